def start(args):
    """HKube's Range: [1..n] for n = the first input."""
    return list(range(1, args["input"][0] + 1))
