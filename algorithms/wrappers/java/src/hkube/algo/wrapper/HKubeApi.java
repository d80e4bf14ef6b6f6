package hkube.algo.wrapper;

import hkube.api.IHKubeAPI;
import hkube.api.INode;
import hkube.communication.streaming.IStreamingManagerMsgListener;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The code API handed to {@code Start}: sub-pipelines over the worker protocol, as HKube's Java
 * wrapper does them.
 *
 * <p>A call sends {@code startRawSubPipeline} / {@code startStoredSubPipeline}
 * {@code {subPipeline, subPipelineId, includeResult}} (ids are a per-process counter rendered as
 * strings); the worker answers {@code subPipelineDone {subPipelineId, response}},
 * {@code subPipelineError {subPipelineId, error}} or {@code subPipelineStopped {subPipelineId,
 * reason}}. As in HKube's Java wrapper the value of a call is that whole reply (a Map): an error is
 * returned, not thrown. A stop of the task releases the calls still waiting (their value is null),
 * so {@code Start} can return. Sub-algorithms ({@code startAlgorithm}) are not supported yet.
 * Streaming calls go to {@link Streaming}.
 */
@SuppressWarnings({"rawtypes", "unchecked"})
final class HKubeApi implements IHKubeAPI {
    private final Consumer<Map<String, Object>> send;
    private final Map<String, CompletableFuture<Object>> calls = new ConcurrentHashMap<>();
    private final AtomicInteger lastId = new AtomicInteger();
    private final Streaming streaming;
    private volatile boolean stopping;

    HKubeApi(Consumer<Map<String, Object>> send, Streaming streaming) {
        this.send = send;
        this.streaming = streaming;
    }

    // --- called by the Runner --------------------------------------------------------------------

    /** A task starts: calls are accepted again. */
    void taskStarted() {
        stopping = false;
    }

    /** The task is being stopped: every waiting call returns null, later calls too. */
    void releaseCalls() {
        stopping = true;
        for (String id : new ArrayList<>(calls.keySet())) {
            CompletableFuture<Object> call = calls.remove(id);
            if (call != null) {
                call.complete(null);
            }
        }
    }

    /** A reply of the worker: subPipelineDone, subPipelineError or subPipelineStopped. */
    void onReply(Object data) {
        if (!(data instanceof Map)) {
            return;
        }
        CompletableFuture<Object> call = calls.remove(String.valueOf(((Map) data).get("subPipelineId")));
        if (call != null) {
            call.complete(data);
        }
    }

    // --- sub-pipelines ---------------------------------------------------------------------------

    private Future<Object> subPipeline(String command, Map<String, Object> subPipeline, boolean includeResult) {
        CompletableFuture<Object> call = new CompletableFuture<>();
        if (stopping) {
            call.complete(null);
            return call;
        }
        String id = String.valueOf(lastId.incrementAndGet());
        calls.put(id, call);
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("subPipeline", subPipeline);
        data.put("subPipelineId", id);
        data.put("includeResult", includeResult);
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("command", command);
        message.put("data", data);
        send.accept(message);
        return call;
    }

    private static Object await(Future<Object> call) {
        try {
            return call.get();
        } catch (InterruptedException exc) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a sub-pipeline", exc);
        } catch (ExecutionException exc) {
            throw new IllegalStateException(AlgorithmLoader.describe(exc.getCause()), exc.getCause());
        }
    }

    @Override
    public Future<Object> startStoredPipeLineAsynch(String name, Map flowInput) {
        return startStoredPipeLineAsynch(name, flowInput, true);
    }

    @Override
    public Future<Object> startStoredPipeLineAsynch(String name, Map flowInput, boolean includeResult) {
        Map<String, Object> subPipeline = new LinkedHashMap<>();
        subPipeline.put("name", name);
        subPipeline.put("flowInput", flowInput);
        return subPipeline("startStoredSubPipeline", subPipeline, includeResult);
    }

    @Override
    public Object startStoredPipeLine(String name, Map flowInput) {
        return await(startStoredPipeLineAsynch(name, flowInput));
    }

    @Override
    public Object startStoredPipeLine(String name, Map flowInput, boolean includeResult) {
        return await(startStoredPipeLineAsynch(name, flowInput, includeResult));
    }

    @Override
    public Future<Object> startRawSubPipeLineAsynch(
            String name, INode[] nodes, Map flowInput, Map options, Map webhooks) {
        List<Map<String, Object>> nodeList = new ArrayList<>();
        for (INode node : nodes) {
            Map<String, Object> attributes = new LinkedHashMap<>();
            attributes.put("nodeName", node.getName());
            attributes.put("algorithmName", node.getAlgorithmName());
            Object[] input = node.getInput();
            attributes.put("input", input == null ? List.of() : Arrays.asList(input));
            nodeList.add(attributes);
        }
        Map<String, Object> subPipeline = new LinkedHashMap<>();
        subPipeline.put("name", name);
        subPipeline.put("flowInput", flowInput);
        subPipeline.put("nodes", nodeList);
        subPipeline.put("options", options);
        subPipeline.put("webhooks", webhooks);
        return subPipeline("startRawSubPipeline", subPipeline, true);
    }

    @Override
    public Object startRawSubPipeLine(String name, INode[] nodes, Map flowInput, Map options, Map webhooks) {
        return await(startRawSubPipeLineAsynch(name, nodes, flowInput, options, webhooks));
    }

    // --- sub-algorithms --------------------------------------------------------------------------

    private static UnsupportedOperationException notYet(String name) {
        return new UnsupportedOperationException(name + " is not supported by this wrapper yet (the code API "
                + "for sub-algorithms is planned); run the work as pipeline nodes instead");
    }

    @Override
    public Future<Object> startAlgorithmAsynch(String name, List input, boolean resultAsRaw) {
        throw notYet("startAlgorithmAsynch");
    }

    @Override
    public Object startAlgorithm(String name, List input, boolean resultAsRaw) {
        throw notYet("startAlgorithm");
    }

    // --- streaming -------------------------------------------------------------------------------

    @Override
    public void registerInputListener(IStreamingManagerMsgListener onMessage) {
        streaming.register(onMessage);
    }

    @Override
    public void startMessageListening() {
        streaming.startListening();
    }

    @Override
    public void sendMessage(Object msg, String flowName) {
        streaming.sendMessage(msg, flowName);
    }

    @Override
    public void sendMessage(Object msg) {
        streaming.sendMessage(msg, null);
    }

    @Override
    public void stopStreaming(boolean force) {
        streaming.end();
    }

    @Override
    public boolean isListeningToMessages() {
        return streaming.isListening();
    }
}
