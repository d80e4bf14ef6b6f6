package hkube.api;

/** A node of a raw sub-pipeline (see {@link IHKubeAPI#startRawSubPipeLine}). */
public interface INode {
    String getName();

    Object[] getInput();

    void setInput(Object[] input);

    String getAlgorithmName();

    void setAlgorithmName(String algorithmName);
}
