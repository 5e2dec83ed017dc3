"""The box's own sound card (sounddevice): record and preview prompts."""
