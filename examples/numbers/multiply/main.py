def start(args):
    """Runs once per item of Range (a batch node): item * mul."""
    return args["input"][0] * args["input"][1]
