"""Travel times: match passes across links and routes, summarise them per window, publish.

matching.py pairs passes, stats.py summarises samples, engine.py computes windows from etcd,
store.py reads and writes etcd, worker.py runs the engine under per-destination locks,
query.py serves stored windows, plot.py draws them.
"""
