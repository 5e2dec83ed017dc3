"""The ``ccbox-*`` system sounds: every sound ccboxd plays by name, in English and Chinese.

The code plays these by name with STREAM FILE / GET DATA (``ccbox-welcome``, the queue's
announcements, the agents' desk-phone codes, voicemail by phone ...), so Asterisk must find
them in its sounds folder: ``/var/lib/asterisk/sounds/<language>/<name>.wav``. Asterisk 22
(main/file.c, ``fileexists_core``) tries the channel's language (``zh_CN``, then ``zh``), then
the folder itself, then ``en``: so ``en/`` is what a channel of any other language hears.

:data:`CATALOG` holds one entry per sound with its text in each language. Nothing is shipped
as audio: :func:`install_system_sounds` renders the speech at install time with the TTS that
flows use (ivr/tts.py, espeak-ng; 8 kHz mono 16-bit WAV as Asterisk's format_wav wants). Hold
music is none of these: a waiting caller hears Asterisk's own music on hold in the queue's
class (musiconhold.conf). A test scans the source for every ``"ccbox-..."`` name the code can
play and holds it to this catalog, so a new sound cannot ship without its texts.

Blocking (espeak-ng runs as a subprocess): call it from a thread, never on the reactor.
"""

# The Chinese texts use Chinese (full-width) punctuation on purpose: espeak-ng pauses on it.
# ruff: noqa: RUF001

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ivr import tts
from ivr.prompt_audio import write_atomically

LANGUAGES = ("en", "zh")
# Where Asterisk looks (its astdatadir's sounds folder on Debian builds from source).
ASTERISK_SOUNDS = Path("/var/lib/asterisk/sounds")


@dataclass(frozen=True)
class SystemSound:
    """One sound: what it says in each language."""

    name: str
    en: str
    zh: str

    def text(self, language: str) -> str:
        if language not in LANGUAGES:
            raise ValueError(f"no system sounds in {language!r} (known: {', '.join(LANGUAGES)})")
        return str(getattr(self, language))


def _sounds(*sounds: SystemSound) -> dict[str, SystemSound]:
    return {s.name: s for s in sounds}


CATALOG: dict[str, SystemSound] = _sounds(
    # Callers: the default flow, the IVR's own prompts, black list, voicemail.
    SystemSound("ccbox-welcome", "Welcome. Thank you for calling.", "您好，欢迎致电。"),
    SystemSound("ccbox-goodbye", "Thank you for calling. Goodbye.", "感谢您的来电，再见。"),
    SystemSound(
        "ccbox-blocked", "Sorry, we cannot take your call.", "抱歉，我们无法接听您的来电。"
    ),
    SystemSound("ccbox-invalid", "Sorry, that is not a valid choice.", "对不起，您的选择无效。"),
    SystemSound(
        "ccbox-no-input", "Sorry, we did not get your choice.", "对不起，没有收到您的按键。"
    ),
    SystemSound(
        "ccbox-leave-message",
        "Please leave a message after the tone, then press the pound key.",
        "请在提示音后留言，结束请按井号键。",
    ),
    SystemSound("ccbox-message-saved", "Your message has been saved.", "您的留言已保存。"),
    # A stopping ccboxd's hand-off (config [shutdown], drivers/asterisk/confgen.py).
    SystemSound(
        "ccbox-handoff",
        "Sorry, we cannot take your call right now. Please call again later.",
        "抱歉，现在无法接听您的来电，请稍后再拨。",
    ),
    # Callers waiting in a queue (acd/caller.py): between the switch's music on hold, position
    # and expected wait around SAY NUMBER ("You are caller number" 3 "Your expected wait is
    # about" 2 "minutes").
    SystemSound("ccbox-queue-position", "You are caller number", "您的排队位置是"),
    SystemSound("ccbox-queue-wait", "Your expected wait is about", "预计等待时间约为"),
    SystemSound("ccbox-queue-minutes", "minutes.", "分钟。"),
    SystemSound(
        "ccbox-callback-registered",
        "Thank you. We will call you back as soon as an agent is free.",
        "谢谢，坐席空闲后我们会尽快给您回电。",
    ),
    SystemSound(
        "ccbox-callback-unavailable",
        "Sorry, we cannot offer a call back now.",
        "抱歉，目前无法为您安排回电。",
    ),
    # The agent, on a callback (acd/callback_call.py).
    SystemSound(
        "ccbox-callback-connecting",
        "Calling the customer back, please hold.",
        "正在回拨客户，请稍候。",
    ),
    # Agents' desk-phone codes (acd/phone_codes.py).
    SystemSound(
        "ccbox-agent-number",
        "Please enter your agent number, then press the pound key.",
        "请输入您的工号，以井号键结束。",
    ),
    SystemSound(
        "ccbox-agent-pin",
        "Please enter your PIN, then press the pound key.",
        "请输入您的密码，以井号键结束。",
    ),
    SystemSound("ccbox-agent-invalid", "Login incorrect.", "登录信息有误。"),
    SystemSound(
        "ccbox-agent-locked",
        "Too many attempts. Please try again later.",
        "尝试次数过多，请稍后再试。",
    ),
    SystemSound("ccbox-agent-logged-in", "You are logged in.", "您已登录。"),
    SystemSound("ccbox-agent-logged-out", "You are logged out.", "您已退出登录。"),
    SystemSound("ccbox-agent-paused", "You are paused.", "您已暂停接听。"),
    SystemSound("ccbox-agent-unpaused", "You are available again.", "您已恢复接听。"),
    # The keys are acd/phone_codes.REASON_KEYS (a test holds the two together).
    SystemSound(
        "ccbox-agent-pause-reason",
        "Choose the reason. Break, press 1. Lunch, 2. Training, 3. Meeting, 4. After call work, 5.",
        "请选择暂停原因：休息请按1，午餐请按2，培训请按3，会议请按4，话后处理请按5。",
    ),
    SystemSound("ccbox-agent-refused", "That is not possible now.", "当前无法执行此操作。"),
    SystemSound("ccbox-agent-not-logged-in", "You are not logged in.", "您尚未登录。"),
    # Voicemail by phone (ivr/voicemail_phone.py): "You have" 3 "messages".
    SystemSound(
        "ccbox-vm-mailbox",
        "Please enter your mailbox number, then press the pound key.",
        "请输入信箱号码，以井号键结束。",
    ),
    SystemSound(
        "ccbox-vm-password",
        "Please enter your password, then press the pound key.",
        "请输入信箱密码，以井号键结束。",
    ),
    SystemSound("ccbox-vm-incorrect", "Mailbox or password incorrect.", "信箱号码或密码错误。"),
    SystemSound(
        "ccbox-vm-locked",
        "This mailbox is locked. Please try again later.",
        "该信箱已锁定，请稍后再试。",
    ),
    SystemSound("ccbox-vm-youhave", "You have", "您有"),
    SystemSound("ccbox-vm-messages", "messages.", "条留言。"),
    SystemSound("ccbox-vm-deleted", "Message deleted.", "留言已删除。"),
    SystemSound("ccbox-vm-nomore", "No more messages.", "没有更多留言。"),
)
NAMES = frozenset(CATALOG)


def render(name: str, language: str, cache_dir: Path, *, espeak: str = "espeak-ng") -> bytes:
    """One sound in one language as the switch plays it (8 kHz mono 16-bit WAV bytes).

    KeyError for a name not in the catalog; tts.TTSError when espeak-ng fails.
    """
    return tts.synthesize(
        CATALOG[name].text(language), language, cache_dir, espeak=espeak
    ).path.read_bytes()


def install_system_sounds(
    dest: Path,
    langs: Iterable[str] = LANGUAGES,
    *,
    cache_dir: Path | None = None,
    espeak: str = "espeak-ng",
    workers: int = 2,
) -> list[Path]:
    """Write every sound of the catalog as ``dest/<lang>/<name>.wav``; return the paths.

    ``dest`` plays the part of Asterisk's sounds folder (``/var/lib/asterisk/sounds``, or a
    folder the installer copies there). ``cache_dir`` keeps espeak-ng's renderings between
    runs (keyed by voice and text: an unchanged sound is not spoken again); without it they
    are rendered in a temporary folder. Files are replaced atomically, readable by all.
    """
    languages = list(dict.fromkeys(langs))
    for language in languages:
        if language not in LANGUAGES:
            raise ValueError(f"no system sounds in {language!r} (known: {', '.join(LANGUAGES)})")
    if not languages:
        raise ValueError("no language to install system sounds for")
    jobs = [(name, language) for language in languages for name in sorted(CATALOG)]
    with tempfile.TemporaryDirectory(prefix="ccbox-sounds-") as tmp:
        cache = cache_dir if cache_dir is not None else Path(tmp)

        def one(job: tuple[str, str]) -> Path:
            name, language = job
            return write_atomically(
                dest / language, name, render(name, language, cache, espeak=espeak)
            )

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            return list(pool.map(one, jobs))


def readme(dest: Path, langs: Iterable[str] = LANGUAGES, *, in_place: bool = False) -> str:
    """The README paragraph saying where the sounds are and where Asterisk wants them."""
    languages = list(langs)
    folders = "".join(f"  {dest}/{lang}/\n" for lang in languages)
    if in_place:
        where = f"The ccbox-* system sounds were written into Asterisk's sounds folder\n{folders}"
        where += "(as given with --sounds-dir): nothing to copy.\n"
    else:
        where = f"The ccbox-* system sounds are in\n{folders}Copy each language folder into "
        where += f"Asterisk's sounds folder, {ASTERISK_SOUNDS}/<language>/:\n"
        where += "".join(
            f"  install -d {ASTERISK_SOUNDS}/{lang} && install -m 0644 {dest}/{lang}/*.wav "
            f"{ASTERISK_SOUNDS}/{lang}/\n"
            for lang in languages
        )
    return (
        where + "Asterisk plays <sounds>/<channel language>/<name>, then <sounds>/<name>, then\n"
        "<sounds>/en/<name>: callers on channels with language=zh (chan_dahdi.conf or the\n"
        "pjsip.conf endpoint) hear the Chinese sounds, everyone else the English ones.\n"
        "Hold music is Asterisk's own music on hold (musiconhold.conf), not among these.\n"
    )
