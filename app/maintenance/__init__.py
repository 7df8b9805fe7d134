"""The server's pure rules, with no Flask and no database.

The gate's own core — the frozen state, the window time rules, path
normalisation, `decide()`, the state document and the per-worker cache — lives
in the `pausa_gate` package (gate/), shared with the embeddable middleware. Here
are the rules only the server needs: `validation` of window input, `offline`
changes made while the database is down, `audit_chain` hashing, webhook
`signatures`, `planned` windows and `analytics`.
"""
