package hkube.algo.wrapper;

import hkube.communication.streaming.IStreamingManagerMsgListener;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The streaming side of a task (HKube's v1 path over the worker socket).
 *
 * <p>{@code streamingInMessage {payload, origin, sendMessageId}} frames wait in an inbox until the
 * task calls {@code startMessageListening()}; one thread of their own ("hkube-stream") then hands
 * them, one at a time in arrival order, to every registered listener and answers each with
 * {@code streamingInMessageDone {sendMessageId}}. While the listeners run, the message's
 * sendMessageId is the current thread's, so a {@code sendMessage} from a listener names it (as
 * HKube's wrappers do; null elsewhere) and the worker routes the message with the incoming one's
 * flow. A listener that throws is logged; its message is still acknowledged.
 */
final class Streaming {
    private final Consumer<Map<String, Object>> send;
    private final ThreadLocal<Object> current = new ThreadLocal<>();
    private final ArrayDeque<Map<?, ?>> inbox = new ArrayDeque<>();
    private final List<IStreamingManagerMsgListener> listeners = new CopyOnWriteArrayList<>();
    private boolean listening;
    private boolean handling;

    Streaming(Consumer<Map<String, Object>> send) {
        this.send = send;
        Thread thread = new Thread(this::loop, "hkube-stream");
        thread.setDaemon(true);
        thread.start();
    }

    // --- the code API ----------------------------------------------------------------------------

    void register(IStreamingManagerMsgListener listener) {
        if (listener == null) {
            throw new IllegalArgumentException("registerInputListener expects a listener");
        }
        listeners.add(listener);
    }

    synchronized void startListening() {
        listening = true;
        notifyAll();
    }

    synchronized boolean isListening() {
        return listening;
    }

    /** streamingOutMessage {message, flowName, sendMessageId}. */
    void sendMessage(Object message, String flowName) {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("message", message);
        data.put("flowName", flowName);
        data.put("sendMessageId", current.get());
        Map<String, Object> frame = new LinkedHashMap<>();
        frame.put("command", "streamingOutMessage");
        frame.put("data", data);
        send.accept(frame);
    }

    // --- called by the Runner --------------------------------------------------------------------

    synchronized void received(Object data) {
        inbox.add(data instanceof Map ? (Map<?, ?>) data : Map.of());
        notifyAll();
    }

    /** Stops handing out messages; the one in hand, if any, still finishes. */
    synchronized void stopListening() {
        listening = false;
        notifyAll();
    }

    /** Waits until the messages received so far are handled (at once when nobody listens). */
    synchronized void drain() throws InterruptedException {
        while (handling || (listening && !inbox.isEmpty())) {
            wait();
        }
    }

    /**
     * The task's end: no more listening, no listeners. Messages it did not take are dropped
     * without an acknowledgement, so the worker can deliver them again.
     */
    synchronized void end() {
        listening = false;
        listeners.clear();
        if (!inbox.isEmpty()) {
            System.err.println("hkube wrapper: " + inbox.size()
                    + " streaming message(s) not handled by the task were dropped");
            inbox.clear();
        }
        notifyAll();
    }

    // --- the listeners' thread -------------------------------------------------------------------

    private void loop() {
        while (true) {
            Map<?, ?> message;
            synchronized (this) {
                while (!listening || inbox.isEmpty()) {
                    try {
                        wait();
                    } catch (InterruptedException exc) {
                        return;
                    }
                }
                message = inbox.poll();
                handling = true;
            }
            try {
                handle(message);
            } finally {
                synchronized (this) {
                    handling = false;
                    notifyAll();
                }
            }
        }
    }

    private void handle(Map<?, ?> message) {
        Object id = message.get("sendMessageId");
        Object payload = message.get("payload");
        Object origin = message.get("origin");
        String from = origin == null ? null : String.valueOf(origin);
        if (listeners.isEmpty()) {
            System.err.println("hkube wrapper: a streaming message arrived and no input listener is registered");
        }
        current.set(id);
        try {
            for (IStreamingManagerMsgListener listener : listeners) {
                try {
                    listener.onMessage(payload, from);
                } catch (Throwable exc) {
                    System.err.println("hkube wrapper: an input listener failed: " + AlgorithmLoader.describe(exc));
                    exc.printStackTrace();
                }
            }
        } finally {
            current.remove();
        }
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("sendMessageId", id);
        Map<String, Object> frame = new LinkedHashMap<>();
        frame.put("command", "streamingInMessageDone");
        frame.put("data", data);
        send.accept(frame);
    }
}
