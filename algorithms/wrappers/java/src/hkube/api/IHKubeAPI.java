package hkube.api;

import hkube.communication.streaming.IStreamingManagerMsgListener;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;

/**
 * The code API handed to {@code Start} (the batch part of HKube's Java interface).
 *
 * <p>Sub-pipelines: the value (or the future's value) is the worker's reply, a Map with
 * {@code subPipelineId} and {@code response} (the child's results), {@code error} (the child
 * failed: returned, not thrown) or {@code reason} (the child was stopped); null when the task
 * itself was stopped meanwhile. Sub-algorithms are not supported yet: {@code startAlgorithm*}
 * throw {@link UnsupportedOperationException}.
 *
 * <p>Streaming ({@code kind: stream}), as in HKube's Java wrapper: {@code sendMessage} sends a
 * message on to the node's children (through the named flow, or the default one; from a listener,
 * along the incoming message's flow); {@code registerInputListener} + {@code startMessageListening}
 * receive the messages that reach a stateful node, one at a time.
 */
@SuppressWarnings("rawtypes")
public interface IHKubeAPI {
    Future<Object> startAlgorithmAsynch(String name, List input, boolean resultAsRaw);

    Object startAlgorithm(String name, List input, boolean resultAsRaw);

    Future<Object> startStoredPipeLineAsynch(String name, Map flowInput);

    Future<Object> startStoredPipeLineAsynch(String name, Map flowInput, boolean includeResult);

    Object startStoredPipeLine(String name, Map flowInput);

    Object startStoredPipeLine(String name, Map flowInput, boolean includeResult);

    Future<Object> startRawSubPipeLineAsynch(
            String name, INode[] nodes, Map flowInput, Map options, Map webhooks);

    Object startRawSubPipeLine(String name, INode[] nodes, Map flowInput, Map options, Map webhooks);

    void registerInputListener(IStreamingManagerMsgListener onMessage);

    void startMessageListening();

    void sendMessage(Object msg, String flowName);

    void sendMessage(Object msg);

    /** Stops handing messages to the listeners (the one in hand finishes) and forgets them. */
    void stopStreaming(boolean force);

    boolean isListeningToMessages();
}
