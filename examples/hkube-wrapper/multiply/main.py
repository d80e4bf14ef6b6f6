"""HKube's Multiply (one task per item of Range), written for hkube-python-wrapper."""

from hkube_python_wrapper import HKubeApi


def start(args, hkubeApi: HKubeApi):
    item, mul = args["input"]
    return item * mul
