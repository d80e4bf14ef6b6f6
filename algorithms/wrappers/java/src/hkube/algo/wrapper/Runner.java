package hkube.algo.wrapper;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The HKube worker protocol over one WebSocket (JSON text frames, storage v1, pipelined).
 *
 * <p>Threads: the HttpClient delivers frames to {@link Listener}, which hands each whole message
 * to one dispatcher thread, so messages are handled in order and the socket keeps reading while
 * the algorithm works. {@code Start} runs on a thread of its own per task, so a {@code stop}
 * can reach the algorithm; {@code stop} is handled on its own thread too, because it waits for
 * {@code Start} to return. Sends are serialized: the JDK WebSocket allows one send at a time.
 *
 * <p>Streaming ({@code kind: stream}): {@code streamingInMessage} goes to {@link Streaming}, whose
 * thread calls the input listeners. A stateless node ({@code stateType: stateless}) is HKube's
 * Java stateless shape: {@code initialize} only keeps the task; each message then calls
 * {@code Init(args)} and {@code Start(args, api)} with {@code args.streamInput = {message,
 * origin}}, and the value goes on as a {@code streamingOutMessage} when the node has childs; a
 * throw fails the task. A stop without {@code forceStop} sends {@code stopping} at once and every
 * second until the messages received are handled, then ends the task as before.
 */
final class Runner {
    private static final long RECONNECT_INTERVAL_MS = 100;
    private static final long RECONNECT_TIMEOUT_MS = 30_000;
    private static final long STOPPING_INTERVAL_MS = 1000;
    private static final String STOPPING = "{\"command\":\"stopping\",\"data\":null}";

    private final URI uri;
    private final IAlgorithm algorithm;
    private final String loadError;
    private final HttpClient client;
    private final ExecutorService dispatcher;
    private final Streaming streaming = new Streaming(message -> sendText(Json.stringify(message)));
    private final HKubeApi api = new HKubeApi(message -> sendText(Json.stringify(message)), streaming);
    private final ScheduledExecutorService beats =
            Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "hkube-stopping"));
    private final Object sendLock = new Object();
    private final CountDownLatch closed = new CountDownLatch(1);

    private volatile WebSocket ws;
    private volatile boolean exiting;
    private volatile Task current;
    /** The initialized task waiting for its start; touched only by the dispatcher thread. */
    private Map<String, Object> job;

    private static final class Task {
        volatile boolean stopped;
        Thread thread;
        boolean streaming;
        /** A stateless task waits on it: counted down by a stop or by a failing Start. */
        final CountDownLatch ended = new CountDownLatch(1);
        volatile Throwable failure;
    }

    private static boolean isStream(Map<String, Object> args) {
        return "stream".equals(args.get("kind"));
    }

    private static boolean isStateless(Map<String, Object> args) {
        return isStream(args) && "stateless".equals(args.get("stateType"));
    }

    Runner(URI uri, IAlgorithm algorithm, String loadError) {
        this.uri = uri;
        this.algorithm = algorithm;
        this.loadError = loadError != null ? loadError : "the algorithm could not be loaded";
        this.client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        this.dispatcher = Executors.newSingleThreadExecutor(r -> daemon(r, "hkube-dispatch"));
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    // --- connection ----------------------------------------------------------------------------

    void connect() {
        long deadline = System.currentTimeMillis() + RECONNECT_TIMEOUT_MS;
        while (true) {
            try {
                ws = client.newWebSocketBuilder()
                        .buildAsync(uri, new Listener())
                        .get(10, TimeUnit.SECONDS);
                return;
            } catch (Exception exc) {
                if (exiting) {
                    return;
                }
                if (System.currentTimeMillis() >= deadline) {
                    System.err.println("hkube wrapper: cannot connect to the worker at " + uri + " within "
                            + RECONNECT_TIMEOUT_MS / 1000 + " s (" + AlgorithmLoader.describe(rootCause(exc))
                            + "); exiting");
                    System.exit(1);
                }
            }
            try {
                Thread.sleep(RECONNECT_INTERVAL_MS);
            } catch (InterruptedException exc) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static Throwable rootCause(Throwable exc) {
        Throwable t = exc;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    private final class Listener implements WebSocket.Listener {
        private final StringBuilder partial = new StringBuilder();

        @Override
        public void onOpen(WebSocket socket) {
            // Set here, not when buildAsync completes: the worker may close it before that.
            ws = socket;
            socket.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket socket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                String text = partial.toString();
                partial.setLength(0);
                dispatcher.execute(() -> onMessage(text));
            }
            socket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket socket, java.nio.ByteBuffer data, boolean last) {
            socket.request(1); // a JSON connection carries no binary frames
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket socket, int statusCode, String reason) {
            lost(socket);
            return null;
        }

        @Override
        public void onError(WebSocket socket, Throwable error) {
            lost(socket);
        }
    }

    private void lost(WebSocket socket) {
        if (exiting) {
            closed.countDown();
            return;
        }
        if (ws == socket) {
            // The worker may come back; the task state is kept.
            daemon(this::connect, "hkube-reconnect").start();
        }
    }

    private void sendText(String text) {
        synchronized (sendLock) {
            WebSocket socket = ws;
            if (socket == null || socket.isOutputClosed()) {
                System.err.println("hkube wrapper: a message to the worker was lost (not connected): "
                        + abbreviate(text));
                return;
            }
            try {
                socket.sendText(text, true).get();
            } catch (Exception exc) {
                System.err.println("hkube wrapper: a message to the worker was lost ("
                        + AlgorithmLoader.describe(rootCause(exc)) + "): " + abbreviate(text));
            }
        }
    }

    private static String abbreviate(String text) {
        return text.length() <= 120 ? text : text.substring(0, 120) + "...";
    }

    private void sendError(String message) {
        sendText(errorFrame(message));
    }

    private static String errorFrame(String message) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("code", "Failed");
        error.put("message", message);
        Map<String, Object> frame = new LinkedHashMap<>();
        frame.put("command", "errorMessage");
        frame.put("error", error);
        return Json.stringify(frame);
    }

    // --- the protocol ----------------------------------------------------------------------------

    @SuppressWarnings("unchecked")
    private void onMessage(String text) {
        Object message;
        try {
            message = Json.parse(text);
        } catch (Json.ParseError exc) {
            System.err.println("hkube wrapper: ignoring a frame that is not JSON: " + exc.getMessage());
            return;
        }
        if (!(message instanceof Map)) {
            return;
        }
        Map<String, Object> frame = (Map<String, Object>) message;
        Object command = frame.get("command");
        Object data = frame.get("data");
        if ("initialize".equals(command)) {
            onInitialize(data);
        } else if ("start".equals(command)) {
            onStart();
        } else if ("stop".equals(command)) {
            daemon(() -> onStop(data), "hkube-stop").start();
        } else if ("exit".equals(command)) {
            onExit(data);
        } else if ("streamingInMessage".equals(command)) {
            streaming.received(data);
        } else if ("subPipelineDone".equals(command) || "subPipelineError".equals(command)
                || "subPipelineStopped".equals(command)) {
            api.onReply(data);
        }
        // subPipelineStarted and unknown commands are ignored, like HKube's wrappers
    }

    @SuppressWarnings("unchecked")
    private void onInitialize(Object data) {
        job = null;
        if (algorithm == null) {
            sendError(loadError);
            return;
        }
        Map<String, Object> args = data instanceof Map ? (Map<String, Object>) data : new LinkedHashMap<>();
        try {
            if (!isStateless(args)) {
                algorithm.Init(args); // a stateless node's Init runs per message
            }
        } catch (Throwable exc) {
            exc.printStackTrace();
            sendError(AlgorithmLoader.describe(exc));
            return;
        }
        job = args;
        sendText("{\"command\":\"initialized\",\"data\":null}");
    }

    private void onStart() {
        Map<String, Object> args = job;
        job = null;
        if (args == null) {
            return; // no successful initialize before it
        }
        Task task = new Task();
        task.streaming = isStream(args);
        task.thread = new Thread(() -> runTask(task, args), "hkube-algorithm");
        current = task;
        api.taskStarted();
        task.thread.start();
    }

    private void runTask(Task task, Map<String, Object> args) {
        try {
            sendText("{\"command\":\"started\",\"data\":null}");
            String text;
            try {
                Object result = isStateless(args) ? runStateless(task, args) : algorithm.Start(args, api);
                Map<String, Object> frame = new LinkedHashMap<>();
                frame.put("command", "done");
                frame.put("data", result);
                try {
                    text = Json.stringify(frame);
                } catch (Json.EncodeError exc) {
                    text = errorFrame("cannot send the result of Start(): " + exc.getMessage());
                }
            } catch (Throwable exc) {
                if (!task.stopped) {
                    exc.printStackTrace();
                }
                text = errorFrame(AlgorithmLoader.describe(exc));
            }
            if (task.streaming) {
                // The message in hand, if any, is acknowledged before the task's end.
                streaming.stopListening();
                try {
                    streaming.drain();
                } catch (InterruptedException exc) {
                    Thread.currentThread().interrupt();
                }
            }
            if (!task.stopped) {
                streaming.end();
                sendText(text); // after a stop the result is dropped
            }
        } finally {
            if (current == task) {
                current = null;
            }
        }
    }

    /** The stateless shape: Init and Start per message until a stop; null (a stop drops it). */
    @SuppressWarnings("unchecked")
    private Object runStateless(Task task, Map<String, Object> options) throws Throwable {
        Object childs = options.get("childs");
        boolean hasChilds = childs instanceof List && !((List<Object>) childs).isEmpty();
        api.registerInputListener((message, origin) -> {
            Map<String, Object> args = new LinkedHashMap<>(options);
            Map<String, Object> streamInput = new LinkedHashMap<>();
            streamInput.put("message", message);
            streamInput.put("origin", origin);
            args.put("streamInput", streamInput);
            try {
                algorithm.Init(args);
                Object result = algorithm.Start(args, api);
                if (hasChilds) {
                    api.sendMessage(result);
                }
            } catch (Throwable exc) {
                exc.printStackTrace();
                task.failure = exc;
                streaming.stopListening();
                task.ended.countDown();
            }
        });
        api.startMessageListening();
        task.ended.await();
        streaming.drain();
        if (task.failure != null) {
            throw task.failure;
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    private void onStop(Object data) {
        boolean force = data instanceof Map && Boolean.TRUE.equals(((Map<String, Object>) data).get("forceStop"));
        Task task = current;
        if (task != null) {
            task.stopped = true;
            if (task.streaming && !force) {
                // HKube's graceful stop: `stopping` every second while the messages drain.
                sendText(STOPPING);
                ScheduledFuture<?> beat = beats.scheduleAtFixedRate(() -> sendText(STOPPING),
                        STOPPING_INTERVAL_MS, STOPPING_INTERVAL_MS, TimeUnit.MILLISECONDS);
                try {
                    streaming.drain();
                } catch (InterruptedException exc) {
                    Thread.currentThread().interrupt();
                } finally {
                    beat.cancel(false);
                    try {
                        beats.submit(() -> { }).get(); // a beat being sent goes out before what follows
                    } catch (Exception exc) {
                        // the executor is ours and never shut down
                    }
                }
            }
            streaming.stopListening();
            task.ended.countDown();
        }
        if (algorithm != null) {
            try {
                algorithm.Stop();
            } catch (Throwable exc) {
                exc.printStackTrace();
            }
        }
        api.releaseCalls(); // a Start waiting on a sub-pipeline returns, so the stop completes
        if (task != null) {
            try {
                task.thread.join(1000);
                if (task.thread.isAlive()) {
                    // Stop() did not end Start() at once: wake it from sleep()/wait()/blocking I/O.
                    task.thread.interrupt();
                }
                // No bound here: the worker kills the process after its stop grace period.
                task.thread.join();
            } catch (InterruptedException exc) {
                Thread.currentThread().interrupt();
            }
        }
        streaming.end();
        sendText("{\"command\":\"stopped\",\"data\":null}");
    }

    @SuppressWarnings("unchecked")
    private void onExit(Object data) {
        exiting = true;
        int code = 0;
        if (data instanceof Map && ((Map<String, Object>) data).get("exitCode") instanceof Number) {
            code = ((Number) ((Map<String, Object>) data).get("exitCode")).intValue();
        }
        if (algorithm != null) {
            try {
                algorithm.Cleanup();
            } catch (Throwable exc) {
                exc.printStackTrace();
            }
        }
        WebSocket socket = ws;
        if (socket != null && !socket.isOutputClosed()) {
            try {
                // The worker waits for us to close first (protocol reference §6.1 step 8).
                socket.sendClose(WebSocket.NORMAL_CLOSURE, "").get(2, TimeUnit.SECONDS);
                closed.await(2, TimeUnit.SECONDS);
            } catch (Exception exc) {
                System.err.println("hkube wrapper: the connection did not close cleanly: "
                        + AlgorithmLoader.describe(rootCause(exc)) + "; exiting anyway");
            }
        }
        System.out.flush();
        System.exit(code);
    }
}
