"""The national PGO system as a SimPy what-if model over years (issue 6).

`model.run(presets.get(name).config, seed)` runs one scenario; `cli.register(app)` adds the
`pgo-sandbox simulate` command. docs/national-model.md explains entities, processes,
assumptions, sources and limits.
"""
