"""The transcript a visitor asks for, e-mailed to the address given on the pre-chat form
(never another one: the endpoint is not a mail relay), once per conversation, through the
box's SMTP client (ivr/mail_notify.py, as the scheduled reports send theirs).

Plain text only; internal lines are left out; names and lines are the visitor's and the
agents' own text, and go into the body only (the subject is fixed, the recipient header is
cleaned of control characters)."""

from __future__ import annotations

from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from acd.channels.conversation import Message
from appliance.config import SmtpConfig
from ivr import mail_notify

SUBJECTS = {"zh": "您的在线咨询记录", "en": "Your chat transcript"}
INTROS = {
    "zh": "以下是您与我们的在线咨询记录:",
    "en": "Here is the transcript of your chat with us:",
}
ATTACHED = {"zh": "附件", "en": "attachment"}


def build(smtp: SmtpConfig, to: str, language: str, messages: Iterable[Message]) -> EmailMessage:
    lang = "zh" if language == "zh" else "en"
    msg = EmailMessage()
    msg["Subject"] = SUBJECTS[lang]
    msg["From"] = smtp.sender
    msg["To"] = mail_notify.clean(to, 254)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=smtp.sender.rsplit("@", 1)[-1])
    lines = [INTROS[lang], ""]
    for m in messages:
        if m.internal:
            continue
        when = m.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        who = mail_notify.clean(m.author or m.sender, 128)
        lines.append(f"[{when}] {who}:")
        lines.extend(f"  {t}" for t in m.body.splitlines() or [""])
        for a in m.attachments:
            lines.append(f"  ({ATTACHED[lang]}: {mail_notify.clean(a.file_name, 200)})")
        lines.append("")
    msg.set_content("\n".join(lines) + "\n")
    return msg
