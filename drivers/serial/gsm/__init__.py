"""The GSM modem: SMS in PDU mode (pdu.py, the codec) over AT commands (modem.py)."""
