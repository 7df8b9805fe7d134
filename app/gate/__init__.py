"""The gate's server side, in one place: every way Pausa decides whether a request passes.

- `inapp`: Flask's `before_request`, the per-worker state cache and who is asking.
- `fastpath`: a WSGI layer answering the floods of a window (polls, anonymous blocks,
  the edge check) without entering Flask.
- `edge`: the forward-auth check reverse proxies ask (`/gate/check`, docs/edge.md).
- `pages`: the one shared rendering of the maintenance page.
- `notifier`: state changes through Redis.

What a request is, what a block answers, the bypass cookie and the decision itself
are the pure core in `pausa_gate` (gate/), shared with the embeddable middleware.
The services import only `notifier` (to mark a state change, app/services/state.py);
`inapp` builds on the services (the state, tokens, changes made while the database was down).
"""
