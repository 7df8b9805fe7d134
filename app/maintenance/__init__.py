"""The pure core of Pausa: every maintenance rule, with no Flask and no database.

`state` holds the frozen snapshots the gate reasons about, `windows` the time
rules of a maintenance window, `paths` the path normalisation, `gate` the
decision function, `validation` the rules for window input, `cache` the
per-worker state cache, `audit_chain` the tamper-evident hashing and
`signatures` the webhook signature checks.
"""
