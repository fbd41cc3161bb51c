"""Security headers on every response; a strict CSP on the dashboard's (the API's Swagger page
at /api/docs loads its own script, so /api answers keep the rest but no CSP)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The API's paths (webapp/app.py serves it there).
API_PREFIX = "/api"
BASE_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def content_security_policy(media_origin: str | None = None) -> str:
    """No inline script or style anywhere; frames, thumbnails and previews may come from the
    farm's own Blob Storage (``media_origin``), nothing else from anywhere else."""
    media = f" {media_origin}" if media_origin else ""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self'{media}",
            f"media-src 'self'{media}",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        api = path == API_PREFIX or path.startswith(API_PREFIX + "/")

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                wanted = dict(BASE_HEADERS)
                if not api:
                    state = scope.get("state") or {}
                    wanted["content-security-policy"] = content_security_policy(
                        state.get("media_origin")
                    )
                headers.extend(
                    (name.encode(), value.encode())
                    for name, value in wanted.items()
                    if name.encode() not in present
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)
