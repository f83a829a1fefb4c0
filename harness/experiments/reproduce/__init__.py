"""``reproduce``: the published figures of both seed systems, measured and set beside them in a scorecard."""
