"""Agents, their numbers and voices as the Talkstack simulator serves them (reference §3.4-3.6)."""

from __future__ import annotations

DEFAULT_AGENTS = (
    {
        "id": "agent-default",
        "name": "Sales agent",
        "phoneNumber": "+14155550190",
        "systemInstruction": "You are a friendly sales agent calling {{name}}.",
        "voice_id": "EXAVITQu4vr4xnSDxMaL",
    },
    {
        "id": "agent-renewals",
        "name": "Renewals agent",
        "phoneNumber": "+14155550191",
        "systemInstruction": "You remind {{name}} that their contract renews soon.",
        "voice_id": "9BWtsMINqrJLrRacOk9x",
    },
)
# Caller ID for calls by an agent the simulator does not know (strict_agents=False).
UNKNOWN_AGENT_CALLER_ID = "+14155550199"
# The fields Get agent details and List agents show (reference §3.4.2, §3.4.5).
PUBLIC_AGENT_FIELDS = ("name", "projectId", "systemInstruction", "id")

VOICES = (
    {
        "name": "Sarah",
        "voice_id": "EXAVITQu4vr4xnSDxMaL",
        "labels": {
            "accent": "American",
            "description": "soft",
            "age": "young",
            "gender": "female",
            "use_case": "news",
        },
        "preview_url": "https://example.com/voices/sarah.mp3",
    },
    {
        "name": "Aria",
        "voice_id": "9BWtsMINqrJLrRacOk9x",
        "labels": {
            "accent": "American",
            "description": "expressive",
            "age": "middle-aged",
            "gender": "female",
            "use_case": "social media",
        },
        "preview_url": "https://example.com/voices/aria.mp3",
    },
)


def normalise_agent(raw: dict, index: int) -> dict:
    """An agent with every field the simulator serves, defaults filled in."""
    agent = {
        "name": f"Agent {index + 1}",
        "systemInstruction": "You are a helpful agent.",
        "phoneNumber": f"+1415555{200 + index:04d}",
        **raw,
    }
    agent.setdefault("id", f"agent-{index + 1}")
    agent.setdefault("phoneNumberId", f"pn-{agent['id']}")
    return agent
