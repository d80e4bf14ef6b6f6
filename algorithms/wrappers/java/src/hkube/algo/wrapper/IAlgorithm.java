package hkube.algo.wrapper;

import hkube.api.IHKubeAPI;
import java.util.Map;

/**
 * What an HKube Java algorithm implements (the same names as HKube's Java wrapper).
 *
 * <p>The class needs a public no-argument constructor. One instance serves every task of the
 * algorithm process, one task at a time.
 */
@SuppressWarnings("rawtypes")
public interface IAlgorithm {
    /** Called with the whole task (the {@code initialize} payload) before {@link #Start}. */
    void Init(Map args);

    /**
     * Runs one task. {@code args} is the task with {@code args.get("input")} the resolved input
     * (a {@code List}); the return value (Map, List, String, Number, Boolean, array or null) is the
     * task's result. A thrown exception fails the task with its message.
     */
    Object Start(Map args, IHKubeAPI hkubeAPI) throws Exception;

    /** Asks a running {@link #Start} to return (the job was stopped); called from another thread. */
    void Stop();

    /** Called once when the process is asked to exit. */
    void Cleanup();
}
