"""Register maps of supported meters, one JSON file per model.

Data, not code: a MicroPython gateway parses the same files. Adding a meter
model means adding a file here; `edge.registermap.load_map` reads them.
"""
