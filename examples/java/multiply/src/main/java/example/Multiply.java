package example;

import hkube.algo.wrapper.IAlgorithm;
import hkube.api.IHKubeAPI;
import java.util.List;
import java.util.Map;

/** The numbers pipeline's batch node in Java: one task per item of Range, item * mul. */
public class Multiply implements IAlgorithm {
    @Override
    public void Init(Map args) {}

    @Override
    public Object Start(Map args, IHKubeAPI hkubeAPI) {
        // args is the whole task (jobId, nodeName, batchIndex, ...); input is [item, mul].
        List<?> input = (List<?>) args.get("input");
        Number item = (Number) input.get(0);
        Number mul = (Number) input.get(1);
        if (item instanceof Double || mul instanceof Double) {
            return item.doubleValue() * mul.doubleValue();
        }
        return Math.multiplyExact(item.longValue(), mul.longValue());
    }

    @Override
    public void Stop() {}

    @Override
    public void Cleanup() {}
}
