package hkube.algo.wrapper;

import java.net.URI;
import java.util.concurrent.CountDownLatch;

/**
 * HKube algorithm wrapper for Java (Java 17 standard library only).
 *
 * <pre>
 *   WORKER_SOCKET_URL=ws://127.0.0.1:&lt;port&gt;/&lt;slot&gt; ALGORITHM_ENTRY_POINT=com.acme.Algo \
 *   java -cp hkube-wrapper.jar:algorithm.jar hkube.algo.wrapper.Main
 * </pre>
 *
 * <p>Connects to the worker with {@code ?storage=v1&encoding=json&pipelined=1} and speaks the HKube
 * worker protocol with JSON text frames: initialize -&gt; Init(args) -&gt; initialized; start -&gt;
 * started, Start(args, api) -&gt; done {data} or errorMessage {error: {code, message}}; stop -&gt;
 * Stop(), wait for Start to return, stopped (the result is dropped); exit -&gt; Cleanup(), close,
 * process exit. Code API ({@code IHKubeAPI}): sub-pipelines, as in HKube's Java wrapper.
 *
 * <p>{@code --resolve [entryPoint]} prints the algorithm class that would run and exits (the build
 * uses it to fail early with a clear message).
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) throws InterruptedException {
        String entryPoint = env("ALGORITHM_ENTRY_POINT");
        if (entryPoint.isEmpty()) {
            entryPoint = System.getProperty("hkube.entryPoint", "");
        }
        if (args.length > 0 && args[0].equals("--resolve")) {
            try {
                System.out.println(AlgorithmLoader.resolve(args.length > 1 ? args[1] : entryPoint).getName());
                System.exit(0);
            } catch (AlgorithmLoader.LoadError exc) {
                System.err.println(exc.getMessage());
                System.exit(2);
            }
        }
        String base = env("WORKER_SOCKET_URL");
        if (base.isEmpty()) {
            System.err.println("hkube wrapper: WORKER_SOCKET_URL is not set (the worker passes its ws:// URL)");
            System.exit(2);
        }
        String url = base + (base.contains("?") ? "&" : "?") + "storage=v1&encoding=json&pipelined=1";
        IAlgorithm algorithm = null;
        String loadError = null;
        try {
            algorithm = AlgorithmLoader.load(entryPoint);
        } catch (AlgorithmLoader.LoadError exc) {
            // Like HKube's wrappers: connect anyway and answer the first initialize with the error.
            System.err.println("hkube wrapper: " + exc.getMessage());
            loadError = exc.getMessage();
        }
        Runner runner = new Runner(URI.create(url), algorithm, loadError);
        runner.connect();
        new CountDownLatch(1).await(); // the process ends with System.exit on `exit`
    }

    private static String env(String name) {
        String value = System.getenv(name);
        return value == null ? "" : value.trim();
    }
}
