"""evsynth: evidence synthesis for remote CBT for chronic pain, pinned to metafor."""

__version__ = "0.1.0"
