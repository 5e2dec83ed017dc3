"""The appliance master: the top of the service tree, started in order and stopped in reverse.

Order (each waits for the one before it):

    db        the database connector: first up, last down, so every write finishes
    report-maintainer  the report rollups, counted from the report inbox every 5 s; stops
              after everything that writes the rows it counts (appliance/reports/)
    acd       agents, queues, the routing engine: loaded before a call can arrive
    acd-day-counters  today's queue counters, restored from the database and kept there
    queue-log the Asterisk-format queue_log file (when [reports] queue_log names one)
    recorder  recording capture and post-processing (its own worker pool): outlives the
              switch links, so the last calls' recordings are merged
    recording-upkeep  hourly: archive old recordings, purge those past their retention
    ami       the AMI client, feeding the call model (when [ami] enabled)
    fastagi   the FastAGI server: Asterisk hands calls over here (when [fastagi] enabled)
    dahdi     the E1/analog spans' monitor (when [dahdi] enabled; appliance/hardware/spans.py):
              before the dialer, which dials no more than the spans have channels free
    dialer    the outbound campaigns' dialing engine (when [dialer] enabled and [ami] is):
              after the FastAGI server, which takes its answered calls
    report-schedule  scheduled reports e-mailed at [reports] schedule_hour (appliance/reports/
              schedule.py), each period once
    ticket-escalation  overdue tickets' escalation steps at their moments, each once
              (appliance/crm/tickets/escalation.py)
    backups   scheduled backups at [backup] schedule, each period once (appliance/backup/)
    modem     the GSM modem (when [modem] device is set; drivers/serial/gsm/)
    sms       SMS in the center over it: the outbox, the inbox, the notices (appliance/sms/)
    front-panel  the front panel's LCD and keys (when [front_panel] device is set;
              appliance/hardware/front_panel.py)
    metrics   the Prometheus endpoint's own port, when [metrics] listen is set
    chat-public  the web chat's public endpoint on [chat] bind:port (when [chat] enabled;
              webui/chat/): only the widget and its API, talking to the channels' engine
    cobrowse  escorted browsing and the supervisor's live view (webui/cobrowse/): one relay
              mounted on the public chat site and on the web UI's /chat-desk
    watchdog  the hardware watchdog, fed while the database and the AMI link answer (when
              [watchdog] device is set; appliance/hardware/watchdog.py): up once the rest
              is, first down (disarmed by a clean stop)
    web       the web UI: last up (it shows the rest), first down (no new requests); its
              /metrics is the metrics service's (when [metrics] token is set)

The master is the composition root: it builds each service and hands it, at construction,
what it uses (the database, the bus, the health registry, the AMI client, ...). No service
reaches another through the master (tests/unit/test_layering.py; docs/architecture.md).

A stop first deals with the calls in progress (appliance/shutdown.py: no new call, a grace,
then the callers still waiting handed to the dialplan's fallback, bridged calls left to the
switch for the next start to adopt), then stops the children in reverse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from acd import callback_call, phone_codes
from acd.channels.email.service import EmailChannelService
from acd.channels.service import WRITE_LINGER_S, ChannelService
from acd.day_counters import DayCounters
from acd.dialer import outbound_call
from acd.dialer.dnc import DoNotCall
from acd.dialer.service import Dialer, DialerLimits
from acd.pin_guard import PinGuard
from acd.service import ACD, RingAnswered
from acd.switch_link import AMISwitch
from appliance import health
from appliance.backup.history import BackupHistory
from appliance.backup.places import places as backup_places
from appliance.backup.service import BackupService
from appliance.call_rows import CallRows
from appliance.config import Config
from appliance.crm.customer_store import CustomerStore
from appliance.crm.erasure import ErasureFiles
from appliance.crm.tickets.escalation import EscalationService
from appliance.crm.tickets.store import TicketStore
from appliance.db.connector import DBConnector
from appliance.db.schedule_store import ScheduleRow, ScheduleStore
from appliance.eventbus import EventBus
from appliance.hardware.box import Hardware
from appliance.hardware.front_panel import CenterFacts, FrontPanel
from appliance.hardware.spans import SpanMonitor
from appliance.hardware.watchdog import Watchdog, database_check, make_target
from appliance.reports.maintainer import ReportMaintainer
from appliance.reports.metrics import MetricsService, MetricsSources
from appliance.reports.model import Report
from appliance.reports.queue_log import QueueLog
from appliance.reports.ranges import ReportRange
from appliance.reports.schedule import ReportScheduler
from appliance.shutdown import GracefulStop, StopReport
from appliance.switch_settings import ami_settings
from appliance.uploads import uploads_root
from drivers.asterisk.agi.limits import FastAGILimits
from drivers.asterisk.agi.server import FastAGIServer
from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.ami.client import AMIClient
from drivers.asterisk.ami.protocol import AMIProtocol
from drivers.asterisk.callmodel import UP, CallModel, ChannelHungUp, DialEnded, OriginateResult
from ivr import inbound, voicemail_phone
from ivr.http_lookup import HTTPLookup
from ivr.prompt_library import PromptLibrary
from ivr.services import IVRServices
from ivr.voicemail import Voicemail
from recorder import encryption
from recorder.service import RecorderService
from recorder.upkeep import RecordingUpkeep

if TYPE_CHECKING:
    from webui.chat.service import PublicChatService
    from webui.cobrowse.service import CobrowseService
    from webui.service import WebService

log = Logger(namespace="ccbox.master")


class ApplianceMaster(service.MultiService):
    def __init__(self, config: Config, reactor: Any, *, db: DBConnector | None = None) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.bus = EventBus()
        self.health = health.HealthRegistry()
        started_at = dt.datetime.fromtimestamp(reactor.seconds(), dt.UTC)
        self.db = db or DBConnector(
            reactor,
            config.database_url,
            upgrade_command=f"ccbox --config {config.path} db upgrade",
            health_registry=self.health,
        )
        if self.db.health is None:  # a connector a test made
            self.db.health = self.health
        self.db.setServiceParent(self)
        # The report rollups, kept current from the report inbox (appliance/reports/); it
        # stops after everything that writes the rows it counts.
        self.report_maintainer = ReportMaintainer(
            self.db, reactor, config.reports.timezone, config.reports.short_abandon_s
        )
        self.report_maintainer.setServiceParent(self)
        # The switch link (when [ami] enabled): the AMI client, the call model it feeds and
        # what the ACD asks of it (callbacks, transfers), made first for the services that
        # use them; the client joins the tree after the recorder (_add_ami), so it starts
        # after it.
        self.ami: AMIClient | None = None
        self.callmodel: CallModel | None = None
        switch: AMISwitch | None = None
        if config.ami.enabled:
            self.ami = AMIClient(reactor, ami_settings(config.ami), health_registry=self.health)
            self.callmodel = CallModel(reactor.seconds, self.bus.publish)
            # The model first: the switch link judges events by what the model has seen.
            self.ami.subscribe(CallModel.EVENTS, self.callmodel.handle)
            switch = AMISwitch(self.ami, self.callmodel)
        # The ACD loads agents and queues before the switch can send the first call.
        # watch_s: agents stuck ringing or on a call the switch does not have are freed.
        self.acd = ACD(reactor, self.db, self.bus, daily_reset=True, watch_s=5.0, switch=switch)
        self.acd.setServiceParent(self)
        # Today's queue counters: restored before the first call, written as they move.
        DayCounters(reactor, self.acd).setServiceParent(self)
        # Asterisk's queue_log for the center's app_queue reporting tool, as calls happen.
        if config.reports.queue_log:
            QueueLog(reactor, self.acd, self.bus, config.reports.queue_log).setServiceParent(self)
        # Hangup causes on the calls rows; rows a dead process left open, reconciled once.
        self.call_rows = CallRows(self.db, started_at)
        # Recordings: captured from each call's session, post-processed in a worker pool;
        # up before the switch and down after it, so every call's recording is finished.
        # A bad key file stops the daemon here (KeyFileError) rather than store plain audio
        # an admin asked to have encrypted.
        key = encryption.configured_key(config.recording.encryption_key_file)
        self.recorder = RecorderService(
            reactor,
            self.db,
            config.recording_dir,
            settings=config.recording,
            ami=self.ami,
            key=key,
            health_registry=self.health,
            publish=self.bus.publish,
        )
        self.recorder.setServiceParent(self)
        self.recording_upkeep = RecordingUpkeep(
            reactor,
            self.db,
            config.recording_dir,
            config.recording,
            key,
            recover=self.recorder.recover_leftovers,
        )
        self.recording_upkeep.setServiceParent(self)
        # The IVR: flows, prompts and voicemail, shared by every call and the web UI.
        prompts = PromptLibrary(config.data_dir / "prompts", reactor)
        self.ivr = IVRServices(
            reactor,
            self.db,
            prompts,
            Voicemail(
                reactor, self.db, config.data_dir / "voicemail", prompts, config.smtp, self.bus
            ),
            self.acd,
            HTTPLookup(reactor),
            self.recorder,
            # "Don't call me" in a flow: through the running dialer's index when there is one
            do_not_call=lambda: getattr(getattr(self, "dialer", None), "dnc", None),
        )
        # Customers: the IVR finds the caller's (its class raises the queue priority); an
        # erasure removes recordings through the upkeep's disk and voicemail through its own.
        self.ivr.customers = CustomerStore.from_config(
            self.db,
            config.crm,
            ErasureFiles(
                config.recording_dir,
                self.recording_upkeep.disk,
                self.ivr.voicemail.delete,
                uploads_root(config.data_dir),
            ),
        )
        # A complaint recorded in a flow opens a ticket, its subject in the center's language.
        self.ivr.tickets = TicketStore(self.db, bus=self.bus)
        self.ivr.translate = self._center_translate()
        # Web chats and e-mail threads, routed beside the calls by a second instance of the
        # ACD's routing engine; it reads the ACD's agents and queues once they are loaded.
        self.channels = ChannelService(
            reactor=reactor,
            db=self.db,
            acd=self.acd,
            bus=self.bus,
            config=config.chat,
            customers=self.ivr.customers,
            health=self.health,
            write_linger_s=WRITE_LINGER_S,
        )
        self.channels.setServiceParent(self)
        # The e-mail channel: its accounts watched over IMAP, threads fed to the engine
        # above, the agents' replies sent over SMTP (the engine's e-mail sender).
        self.email_channel: EmailChannelService | None = None
        if config.email.enabled:
            self.email_channel = self._email_channel()
            self.email_channel.setServiceParent(self)
        self.fastagi: FastAGIServer | None = None
        if self.ami is not None and self.callmodel is not None and switch is not None:
            self._add_ami(self.ami, self.callmodel, switch)
        if config.fastagi.enabled:
            self._add_fastagi()
        # The E1/analog spans (when [dahdi] enabled): polled, alarms on the bus; before the
        # dialer, which takes no more calls than a trunk group's spans have channels free.
        self.spans: SpanMonitor | None = None
        if config.dahdi.enabled:
            self.spans = SpanMonitor(
                reactor, config.dahdi, self.bus, health=self.health, ami=self.ami
            )
            self.spans.setServiceParent(self)
        # Outbound campaigns: places calls over AMI, answered ones come back over FastAGI.
        self.dialer: Dialer | None = None
        if config.dialer.enabled and switch is not None:
            self.dialer = Dialer(
                reactor,
                self.acd,
                switch,
                self.db.dialer,
                DoNotCall(self.db.dialer, reactor),
                self.bus,
                DialerLimits(
                    trunks=dict(config.dialer.trunks),
                    ring_timeout_s=config.dialer.ring_timeout_s,
                ),
                health_registry=self.health,
                span_free=self.spans.trunk_capacity if self.spans is not None else None,
            )
            self.dialer.setServiceParent(self)

        # Scheduled reports, e-mailed at [reports] schedule_hour: each period once.
        self.report_schedule = self._report_schedule()
        self.report_schedule.setServiceParent(self)
        # Tickets' escalation steps at their moments, read from the database (a restart too).
        self.ticket_escalation = self._ticket_escalation()
        self.ticket_escalation.setServiceParent(self)
        # The box's hardware (spans, modem and SMS, front panel, watchdog, backups): each
        # part's owner builds and wires its service here and sets its field.
        self.hardware = Hardware()
        # Backups: scheduled at [backup] schedule, or asked for on the System page.
        self.hardware.backups = self._backups()
        self.hardware.backups.setServiceParent(self)
        # The GSM modem and SMS in the center (when [modem] device is set): inbound SMS reach
        # agents as tickets and notices; replies, callback confirmations and missed-call
        # notices leave through the outbox.
        if config.modem.device:
            self._add_sms()
        self.hardware.spans = self.spans
        if self.spans is not None:  # a DAHDI call's trunk group, on its calls row
            self.ivr.trunk_group = self.spans.group_of
            self.ivr.trunk_channel = self.spans.wait_channel  # a PRI call's name has none
        # The front panel (when [front_panel] device is set): its restart item stops the
        # daemon for systemd to start again (``on_restart``, set by appliance/daemon.py).
        self.on_restart: Callable[[], None] | None = None
        if config.front_panel.device:
            self.hardware.front_panel = self._front_panel()
            self.hardware.front_panel.setServiceParent(self)
        self.metrics = MetricsService(
            reactor,
            config.metrics,
            MetricsSources(
                reactor,
                self.acd,
                self.db,
                self.recorder,
                self.health,
                config.recording_dir,
                ami=lambda: self.ami,
                callmodel=lambda: self.callmodel,
                fastagi=lambda: self.fastagi,
                dialer=lambda: getattr(self, "dialer", None),
                spans=lambda: self.spans,
            ),
        )
        if config.metrics.listen is not None:
            self.metrics.setServiceParent(self)
        self.chat_public: PublicChatService | None = None
        if config.chat.enabled:
            self.chat_public = self._chat_public()
            self.chat_public.setServiceParent(self)
        # Escorted browsing and the live view: one relay on both sites (the visitor's side
        # on the public chat's, the staff's on /chat-desk of the web UI's).
        self.cobrowse = self._cobrowse()
        self.cobrowse.setServiceParent(self)
        # The watchdog: the last child before the web UI, so up once the rest is and
        # first down after it (disarmed by a clean stop).
        if config.watchdog.device:
            self.hardware.watchdog = self._watchdog()
            self.hardware.watchdog.setServiceParent(self)
        self.web = self._web()
        if config.metrics.token:  # else /metrics is the web app's: 404
            self.web.resources[b"metrics"] = self.metrics.web_resource
        self.web.setServiceParent(self)
        self._started: list[Any] = []
        self.stop_report: StopReport | None = None  # what the stop did with calls in progress
        self.ready: defer.Deferred[None] = defer.Deferred()
        if self.ami is None:  # no view of the switch: the last run's open rows are closed
            self.ready.addCallback(self._reconcile_without_switch)

    def _report_schedule(self) -> ReportScheduler:
        """The scheduler, handed the catalog's build and the web UI's catalogs (the root
        may import both; appliance/reports/ imports no web code)."""
        from appliance.reports import catalog
        from webui.i18n import translator

        reports = self.config.reports

        async def build(schedule: ScheduleRow, rng: ReportRange) -> Report:
            return await catalog.build_report(
                self.db, schedule.kind, rng, schedule.scope, schedule.key, reports
            )

        return ReportScheduler(
            self.reactor,
            ScheduleStore(self.db),
            zone=reports.timezone,
            hour=reports.schedule_hour,
            smtp=self.config.smtp,
            build=build,
            translator=translator,
        )

    def _backups(self) -> BackupService:
        """Scheduled backups in their own thread; the last result is the health part."""
        config = self.config
        return BackupService(
            self.reactor,
            BackupHistory(self.db),
            config.backup,
            backup_places(config),
            zone=config.reports.timezone,
            health=self.health,
        )

    def _email_channel(self) -> EmailChannelService:
        """The auto-replies in the mail's language (the web UI's catalogs, as the root may
        import them); tickets for the accounts that make them."""
        from webui.i18n import translator

        return EmailChannelService(
            reactor=self.reactor,
            db=self.db,
            channels=self.channels,
            config=self.config.email,
            data_dir=self.config.data_dir,
            translators={"zh": translator("zh_CN"), "en": translator("en")},
            tickets=TicketStore(self.db, bus=self.bus),
            bus=self.bus,
        )

    def _center_translate(self) -> Callable[[str], str]:
        """Engine messages into the center's language (the web UI's catalogs)."""
        from webui.i18n import translator

        return translator(self.config.locale)

    def _add_sms(self) -> None:
        """The modem service and the SMS service around it; the notices hear the queues'
        abandons on the bus (the ACD knows nothing of SMS). Texts in the center's language,
        notices on the desks' live feed (the root may import the web UI's catalogs)."""
        from acd.queue_events import QueueCallStep
        from appliance.sms.inbox import SmsInbox
        from appliance.sms.notices import SmsNotices
        from appliance.sms.outbox import SmsOutbox
        from appliance.sms.service import SmsService
        from appliance.zones import center_zone
        from drivers.serial.gsm.modem import GsmModemService, ModemSettings
        from webui.live_feed import NoticePosted

        cfg, sms = self.config.modem, self.config.sms
        modem = GsmModemService(
            self.reactor,
            ModemSettings(cfg.device, cfg.baudrate, cfg.pin, cfg.smsc),
            health=self.health,
        )
        modem.setServiceParent(self)
        translate = self._center_translate()
        outbox = SmsOutbox(
            self.reactor,
            self.db,
            modem,
            attempts=sms.attempts,
            retry_s=sms.retry_s,
            bus=self.bus,
        )
        inbox = SmsInbox(
            self.db,
            CustomerStore.from_config(self.db, self.config.crm),
            TicketStore(self.db, bus=self.bus),
            queue=sms.queue,
            ticket_type=sms.ticket_type,
            translate=translate,
            on_notice=lambda row: self.bus.publish(NoticePosted(row.as_message())),
            bus=self.bus,
            max_new_tickets_per_hour=sms.max_new_tickets_per_hour,
        )
        notices = SmsNotices(
            self.db,
            sms,
            translate=translate,
            queue_name=lambda queue_id: (
                self.acd.queues[queue_id].name if queue_id in self.acd.queues else ""
            ),
            zone=center_zone(self.config.reports.timezone),
            kick=outbox.kick,
        )
        self.sms = SmsService(modem, outbox, inbox, notices)
        self.sms.setServiceParent(self)
        self.bus.subscribe(QueueCallStep, self.sms.notices.queue_step)
        self.hardware.modem, self.hardware.sms = modem, self.sms

    def _ticket_escalation(self) -> EscalationService:
        """Its notices in the center's language and on the desks' live feed (the root may
        import the web UI's catalogs and events; appliance/crm/ imports no web code)."""
        from webui.i18n import translator
        from webui.live_feed import NoticePosted

        return EscalationService(
            self.reactor,
            self.db,
            translate=translator(self.config.locale),
            on_notice=lambda row: self.bus.publish(NoticePosted(row.as_message())),
            bus=self.bus,
        )

    def _front_panel(self) -> FrontPanel:
        """The panel's pages read the ACD, the call model and the health registry."""
        facts = CenterFacts(self.reactor, self.acd, self.health, lambda: self.callmodel)
        return FrontPanel(
            self.reactor, self.config.front_panel, facts, self.request_restart, health=self.health
        )

    def request_restart(self) -> None:
        """A restart asked for on the front panel: the daemon stops as on SIGTERM and exits
        with 75, which systemd's Restart=on-failure starts again."""
        if self.on_restart is None:
            log.warn("a restart was asked for, but nothing here can restart the daemon")
            return
        self.on_restart()

    def _watchdog(self) -> Watchdog:
        settings = self.config.watchdog
        return Watchdog(
            self.reactor,
            settings,
            make_target(self.reactor, settings, self.health),
            db_check=database_check(self.db),
            ami=(lambda: self.ami) if self.config.ami.enabled else None,
            health=self.health,
        )

    def _cobrowse(self) -> CobrowseService:
        from webui.cobrowse.service import CobrowseService

        chat = self.chat_public
        cob = CobrowseService(
            reactor=self.reactor,
            db=self.db,
            channels=self.channels,
            bus=self.bus,
            config=self.config.cobrowse,
            origins=chat.origins if chat is not None else None,
            default_locale=self.config.locale,
        )
        if chat is not None:
            chat.root.add_api(b"cobrowse", cob.public_resource(chat.root))
        return cob

    def _chat_public(self) -> PublicChatService:
        """The web chat's own port: the widget and its API, nothing else of the box."""
        from webui.chat.service import PublicChatService

        return PublicChatService(
            reactor=self.reactor,
            db=self.db,
            channels=self.channels,
            config=self.config.chat,
            smtp=self.config.smtp,
            data_dir=self.config.data_dir,
            health_registry=self.health,
        )

    def _web(self) -> WebService:
        """The web UI, handed the services its handlers use (not the master)."""
        from webui.context import WebContext
        from webui.service import WebService

        ctx = WebContext(
            config=self.config,
            reactor=self.reactor,
            db=self.db,
            acd=self.acd,
            ivr=self.ivr,
            recorder=self.recorder,
            health=self.health,
            bus=self.bus,
            # Read when asked: optional, and a test may put its own in after the start.
            ami=lambda: self.ami,
            callmodel=lambda: self.callmodel,
            fastagi=lambda: self.fastagi,
            dialer=lambda: getattr(self, "dialer", None),
            hardware=self.hardware,
            channels=self.channels,
            email_channel=self.email_channel,
            cobrowse=self.cobrowse,
        )
        return WebService(ctx)

    def _reconcile_without_switch(self, _: None) -> None:
        self.call_rows.reconcile_once(None)  # in the background: ready does not wait

    def _add_ami(self, ami: AMIClient, model: CallModel, switch: AMISwitch) -> None:
        """The AMI client's wiring: the call model it feeds (resynced at every login), the
        bus events the ACD, the recorder and the calls rows follow."""
        # The moment an agent's phone answers a queued call (FastAGI learns it only later).
        self.bus.subscribe(DialEnded, self.acd.on_dial_end)
        # Callbacks and transfers: the ACD rings phones and moves callers over AMI.
        self.bus.subscribe(OriginateResult, self.acd.on_originate)
        self.bus.subscribe(ChannelHungUp, self.acd.on_channel_hangup)
        # The recorder merges a call's legs once Asterisk has closed them (the Hangup).
        self.bus.subscribe(ChannelHungUp, self.recorder.on_channel_hangup)
        self.bus.subscribe(ChannelHungUp, self.call_rows.on_channel_hangup)
        self.bus.subscribe(RingAnswered, self.call_rows.ring_answered)
        self.recorder.watch_hangups = True

        async def resync(client: AMIClient, proto: AMIProtocol) -> None:
            model.resync((await proto.send_list_action("CoreShowChannels")).events)
            # Originates the dropped connection left unanswered: ringing, or not there.
            switch.settle_unconfirmed()
            # Calls that outlived a restart: their agents are on them, not available.
            self.acd.reattach(
                [
                    (ch.uniqueid, ch.name)
                    for ch in model.channels.values()
                    if ch.state == UP and ch.hungup_at is None
                ]
            )
            # The first time: rows the last run left open, adopted or closed.
            self.call_rows.reconcile_once(
                [(ch.uniqueid, ch.name) for ch in model.channels.values() if ch.hungup_at is None]
            )

        ami.add_resync_hook(resync)
        ami.setServiceParent(self)

    def _add_fastagi(self) -> None:
        acd = self.acd
        ivr = self.ivr
        guard = PinGuard(self.reactor.seconds)

        async def inbound_call(session: AGISessionProtocol) -> None:
            await inbound.inbound(session, ivr)

        async def transfer_queue(session: AGISessionProtocol) -> None:
            await inbound.transferred(session, ivr, "queue")

        async def transfer_agent(session: AGISessionProtocol) -> None:
            await inbound.transferred(session, ivr, "agent")

        async def agent(session: AGISessionProtocol) -> None:
            await phone_codes.run(session, acd, self.db, guard)

        async def callback(session: AGISessionProtocol) -> None:
            await callback_call.run(session, acd, self.db, self.recorder)

        async def dialer(session: AGISessionProtocol) -> None:
            if self.dialer is None:  # [dialer] or [ami] disabled: no campaign call is ours
                await session.hangup()
                return
            await outbound_call.run(
                session, self.dialer, self.db, self.recorder, ivr.prompts.sound_for_name
            )

        mailbox_guard = PinGuard(self.reactor.seconds)

        async def voicemail(session: AGISessionProtocol) -> None:
            await voicemail_phone.run(session, ivr, mailbox_guard)

        # The FastAGI scripts the generated dialplan names (drivers/asterisk/confgen.py);
        # any other script name is refused.
        routes: dict[str, Callable[[AGISessionProtocol], Awaitable[object]]] = {
            "inbound": inbound_call,
            "transfer-queue": transfer_queue,
            "transfer-agent": transfer_agent,
            "agent": agent,
            "callback": callback,
            "voicemail": voicemail,
            "dialer": dialer,
        }
        cfg = self.config.fastagi
        limits = FastAGILimits(
            cfg.header_timeout_s, cfg.header_max_bytes, cfg.header_bytes_in_flight, cfg.max_sessions
        )
        self.fastagi = FastAGIServer(
            self.reactor, cfg.bind, cfg.port, routes, health_registry=self.health, limits=limits
        )
        self.fastagi.setServiceParent(self)

    def startService(self) -> None:
        service.Service.startService(self)
        d = defer.ensureDeferred(self._start_in_order())
        d.chainDeferred(self.ready)

    async def _start_in_order(self) -> None:
        for child in list(self):
            name = child.name or "?"
            self.health.report(name, health.STARTING)
            ours = self.health.get(name)
            # Listed before it starts: a child that fails half-way (threads started, port
            # refused) is still stopped, or its threads would keep the process alive.
            self._started.append(child)
            await defer.maybeDeferred(child.startService)
            # A child that reported its own health while starting (the AMI client: still
            # connecting, or Asterisk down) keeps it: started is not the same as working.
            if self.health.get(name) is ours:
                self.health.report(name, health.OK)
            log.info("{name} started", name=child.name)

    def stopService(self) -> defer.Deferred[None]:
        service.Service.stopService(self)
        return defer.ensureDeferred(self._stop_in_reverse())

    def _bridged(self, session: AGISessionProtocol) -> bool:
        """The session's caller talks to an agent: the ACD saw the answer (AMI DialEnd)."""
        call = self.acd.by_uniqueid.get(session.env.uniqueid) if session.env else None
        return call is not None and call.answered_at is not None

    async def _stop_in_reverse(self) -> None:
        if self.fastagi is not None and self.fastagi in self._started:
            # Before anything stops: no new call, a grace for those in progress, then the
            # callers still waiting go to the dialplan's hand-off (appliance/shutdown.py).
            try:
                self.stop_report = await GracefulStop(
                    self.reactor,
                    self.fastagi,
                    self.config.shutdown.grace_s,
                    bridged=self._bridged,
                ).run()
            except Exception:
                log.failure("the calls in progress were not handed off")
        while self._started:
            child = self._started.pop()
            try:
                await defer.maybeDeferred(child.stopService)
            except Exception:
                log.failure("{name} did not stop cleanly", name=child.name)
            else:
                log.info("{name} stopped", name=child.name)
