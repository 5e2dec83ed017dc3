"""The IVR: flow model, validator, interpreter over FastAGI, prompts, TTS, voicemail."""
