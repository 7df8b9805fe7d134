"""The gate, in one place: every way Pausa decides whether a request passes.

- `asking`: what a request is (JSON client? htmx? an identity?), read one way for all.
- `inapp`: Flask's `before_request`, the per-worker state cache and who is asking.
- `fastpath`: a WSGI layer answering the floods of a window (polls, anonymous blocks,
  the edge check) without entering Flask.
- `edge`: the forward-auth check reverse proxies ask (`/gate/check`, docs/edge.md).
- `answers` and `pages`: the one block answer and the one shared rendering.
- `cookies`: the bypass cookie; `notifier`: state changes through Redis.

The decision itself is the pure core in `app/maintenance/`. This package imports
nothing from the services at import time, so they may import it.
"""
