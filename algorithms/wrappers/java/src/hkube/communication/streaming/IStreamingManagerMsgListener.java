package hkube.communication.streaming;

/**
 * A streaming node's input listener (the same name and shape as HKube's Java wrapper): called
 * once per message that reaches the node, with the message and the name of the node that sent it.
 */
public interface IStreamingManagerMsgListener {
    void onMessage(Object msg, String origin);
}
