"""HKube's Range, written for HKube's own Python wrapper (hkube-python-wrapper).

The documented shape: ``start(args, hkubeApi)``, optional ``init``/``stop``/``exit``.
Runs here unchanged: requirements.txt names the wrapper, so the build installs it.
"""


def init(args):
    pass


def start(args, hkubeApi):
    return list(range(1, args["input"][0] + 1))


def stop(args):
    pass
