"""Inbound receivers: verify → parse → normalise → record → enqueue. Never calls out."""

from flask import Flask


def register(app: Flask) -> None:
    from webhooks.hubspot import bp as hubspot_bp
    from webhooks.hubspot_actions import bp as actions_bp
    from webhooks.talkstack import bp as talkstack_bp

    for blueprint in (hubspot_bp, actions_bp, talkstack_bp):
        app.register_blueprint(blueprint)
