"""The AMI edge: one logged-in connection to one Asterisk node, over panoramisk.

:class:`AmiConnection` is the only object in the project that talks to panoramisk. It logs in,
parses every AMI event into a typed event *inside panoramisk's reader* and puts it on one
``asyncio.Queue`` (one consumer task then owns per-call state; panoramisk's own dispatch would
start a task per event and they would interleave). It pings Asterisk, notices a dead or dropped
link, reconnects with exponential backoff and reports the link going down and up.

What we take over from panoramisk 1.4 and why:

- reconnecting: its Manager retries forever at a fixed delay, cannot be cancelled, keeps
  retrying a refused login, and re-sends unanswered actions after reconnecting (a second
  Originate is a second phone call). Here the pending actions fail with
  :class:`AmiUnavailable` instead and backoff is ours.
- pinging: its pinger never reads the Pong, so a half-open link goes unnoticed, and it
  truncates the interval to whole seconds.
- reading: it decodes each TCP chunk on its own (a Chinese caller name split between two
  chunks loses characters) and lets an exception from one malformed message close the link.
- login: a refused login is only a ``False`` flag; here it is :class:`AmiLoginError`.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from panoramisk import Manager, Message
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol

from core.settings import AmiSettings
from cti.ami_events import AmiError, AmiEvent, AmiFields, AmiParseError, parse_event

log = logging.getLogger(__name__)

_GREETING = "Asterisk Call Manager/"
_EOL = "\r\n"
_MAX_PENDING_TEXT = 4 * 1024 * 1024  # an unterminated message this long is garbage
_ERROR_RESPONSES = ("error", "fail", "failure")

LinkCallback = Callable[[bool], None]
"""Called with ``True`` when the link is up (logged in) and ``False`` when it goes down."""


# Actions whose answer is a list of events ending in "…Complete" (AmiResponse.events).
LIST_ACTIONS = frozenset({"queuestatus", "queuesummary", "coreshowchannels", "devicestatelist"})


class AmiUnavailable(AmiError, ConnectionError):
    """Nothing usable answers at the AMI address, or the link went down mid-action."""


class AmiLoginError(AmiError):
    """Asterisk refused our AMI username or secret."""


class AmiActionTimeout(AmiError, TimeoutError):
    """Asterisk did not answer an action in time (the link may still be up)."""


@dataclass(frozen=True, slots=True)
class AmiResponse:
    """Asterisk's answer to an action: the response fields and, for list actions
    (QueueStatus, CoreShowChannels…), the events that followed it, in order."""

    fields: AmiFields = field(hash=False)
    events: tuple[AmiFields, ...] = field(default=(), hash=False)
    content: str = ""  # body of an old-style "Response: Follows"

    def get(self, key: str) -> str | None:
        """One response field by name (case-insensitive); the last value if repeated."""
        for name, value in self.fields.items():
            if name.lower() == key.lower():
                return value if isinstance(value, str) else value[-1]
        return None

    @property
    def response(self) -> str:
        return self.get("Response") or ""

    @property
    def message(self) -> str:
        return self.get("Message") or ""


class AmiActionError(AmiError):
    """Asterisk answered an action with ``Response: Error``."""

    def __init__(self, action: str, response: AmiResponse) -> None:
        super().__init__(f"Asterisk refused {action}: {response.message or response.response}")
        self.action = action
        self.response = response


def _fields(message: Any) -> AmiFields:
    # panoramisk's Message stores its body under a pseudo-header "content": leave it out.
    return MappingProxyType({k: v for k, v in message.items() if k != "content"})


def _backoff(first: float, cap: float) -> Iterator[float]:
    """Reconnect delays: ``first``, doubling, never above ``cap``."""
    delay = min(first, cap)
    while True:
        yield delay
        delay = min(delay * 2, cap)


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager used for its action bookkeeping and event dispatch only."""

    def __init__(self, on_lost: Callable[[Any], None], **config: Any) -> None:
        super().__init__(**config)
        # Drop its FullyBooted handler, which re-sends actions left over from a lost link.
        self.callbacks.clear()
        self.patterns.clear()
        self._on_lost = on_lost

    def connection_lost(self, exc: Any) -> None:
        # Called by the protocol on EOF, a socket error or a Shutdown event. panoramisk would
        # schedule its own reconnect here; AmiConnection does that instead.
        self._connected = False
        self._on_lost(exc)


class _AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's AMI protocol with a reader that survives garbage and split UTF-8."""

    closed: bool
    version: str | None
    responses: dict[str, Any]

    def __init__(self, manager: _Manager) -> None:
        super().__init__()
        self._manager = manager
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self.greeting: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # What Manager.connection_made wires up, done before any byte can arrive.
        self.factory = self._manager
        self.log = log
        self.config = self._manager.config
        self.encoding = "utf-8"
        self._manager.protocol = self
        self._manager.responses = self.responses

    def data_received(self, data: bytes) -> None:
        self._pending += self._decoder.decode(data)
        if not self.greeting.done():
            line, eol, rest = self._pending.partition(_EOL)
            if not eol:
                if len(self._pending) > 1024:
                    self.greeting.set_result(self._pending[:80])
                return
            self.greeting.set_result(line)
            if line.startswith(_GREETING):
                self.version = line[len(_GREETING) :].strip()
                self._pending = rest
        *messages, self._pending = self._pending.split(_EOL + _EOL)
        if len(self._pending) > _MAX_PENDING_TEXT:
            log.warning("dropped %d characters of unterminated AMI data", len(self._pending))
            self._pending = ""
        for text in messages:
            self._handle_text(text.strip())

    def _handle_text(self, text: str) -> None:
        if not text:
            return
        try:
            message = Message.from_line(text)
            if message is None:
                log.warning("ignored AMI data that is neither response nor event: %.200r", text)
                return
            self.handle_message(message)
        except Exception:
            log.exception("ignored an AMI message that could not be handled: %.200r", text)

    def close(self) -> None:
        # Fail what is still waiting for an answer instead of queueing it for a re-send.
        pending = {id(action): action for action in self.responses.values()}
        self.responses.clear()
        for action in pending.values():
            if not action.future.done():
                action.future.set_exception(
                    AmiUnavailable("the AMI connection closed before Asterisk answered")
                )
        if not self.closed:
            try:
                self.transport.close()
            finally:
                self.closed = True


class AmiConnection:
    """One AMI link to one Asterisk node: typed events out, actions in.

    Build it anywhere; :meth:`connect` (inside the running loop) logs in once and raises if it
    cannot, then keeps the link alive until :meth:`close`.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        events: asyncio.Queue[AmiEvent],
        on_link: LinkCallback | None = None,
        ping_interval: float = 10.0,
        ping_timeout: float | None = None,
        reconnect_max_delay: float = 1.0,
        reconnect_min_delay: float = 0.5,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._secret = secret
        self._events = events
        self._on_link = on_link
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout if ping_timeout is not None else ping_interval
        self._reconnect_min_delay = reconnect_min_delay
        self._reconnect_max_delay = reconnect_max_delay
        self._connect_timeout = connect_timeout
        self._action_timeout = action_timeout
        self._protocol: _AmiProtocol | None = None
        self._lost: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._link_up = False

    @classmethod
    def from_settings(
        cls,
        settings: AmiSettings,
        events: asyncio.Queue[AmiEvent],
        on_link: LinkCallback | None = None,
    ) -> AmiConnection:
        return cls(
            host=settings.host,
            port=settings.port,
            username=settings.username,
            secret=settings.secret.get_secret_value(),
            events=events,
            on_link=on_link,
            ping_interval=settings.ping_interval,
            reconnect_max_delay=settings.reconnect_max_delay,
        )

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    @property
    def connected(self) -> bool:
        """Logged in, and the link has not been seen to fail."""
        protocol = self._protocol
        return (
            protocol is not None
            and not protocol.closed
            and self._lost is not None
            and (not self._lost.is_set())
        )

    async def connect(self) -> None:
        """Log in; raise :class:`AmiUnavailable` or :class:`AmiLoginError` if that fails.

        Afterwards the link is watched and re-established on its own until :meth:`close`.
        """
        if self._supervisor is not None:
            raise RuntimeError("AmiConnection.connect() called twice")
        await self._open()
        self._report(True)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"ami:{self.address}")

    async def close(self) -> None:
        """Log off and stop reconnecting; reports the link down if it was up."""
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        if self.connected:
            try:
                await self._request({"Action": "Logoff"}, 1.0)
            except AmiError as exc:
                log.debug("AMI Logoff: %s", exc)
        self._drop()
        self._report(False)

    async def send_action(
        self, action: Mapping[str, str | Sequence[str]], follow_up_within: float | None = None
    ) -> AmiResponse:
        """Send one action and return Asterisk's answer.

        Raises :class:`AmiActionError` when Asterisk answers with an error,
        :class:`AmiActionTimeout` when it does not answer within the connection's
        ``action_timeout`` and
        :class:`AmiUnavailable` when the link is down or goes down before the answer. A list
        value sends the header once per item (``Variable`` of Originate).

        With ``follow_up_within``, the answer also waits (that long) for the events that
        complete the action: an Async Originate's OriginateResponse (when the call is answered
        or has failed), a list action's items.
        """
        if follow_up_within is None:
            return await self._request(action, self._action_timeout)
        return await self._request(action, follow_up_within, follow_up=True)

    async def _request(
        self, action: Mapping[str, str | Sequence[str]], limit: float, follow_up: bool = False
    ) -> AmiResponse:
        name = next((v for k, v in action.items() if k.lower() == "action"), None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"an AMI action needs an 'Action' field: {dict(action)!r}")
        protocol = self._protocol
        if protocol is None or not self.connected:
            raise AmiUnavailable(f"AMI link to {self.address} is down: {name} not sent")
        request = Action({k: v if isinstance(v, str) else list(v) for k, v in action.items()})
        # panoramisk collects the events of a list answer only when told (as_list); the
        # default sends them on as unsolicited events and returns the first message alone.
        # as_list=None lets it decide from the first answer (an Async Originate's
        # OriginateResponse follows "successfully queued").
        as_list = None if follow_up else name.lower() in LIST_ACTIONS
        future = protocol.send(request, as_list=as_list)
        try:
            async with asyncio.timeout(limit):
                result = await future
        except TimeoutError as exc:
            raise AmiActionTimeout(f"Asterisk did not answer {name} within {limit:g}s") from exc
        finally:
            # Unanswered (timed out, or the caller gave up): forget it, a late answer is dropped.
            protocol.responses.pop(request.id, None)
        messages = result if isinstance(result, list) else [result]
        response = AmiResponse(
            fields=_fields(messages[0]),
            events=tuple(_fields(m) for m in messages[1:]),
            content=str(messages[0].get("content", "")),
        )
        if response.response.lower() in _ERROR_RESPONSES:
            raise AmiActionError(name, response)
        return response

    # --- one connection ----------------------------------------------------------------

    async def _open(self) -> None:
        """Connect and log in once, or raise; on success the new link replaces the old."""
        loop = asyncio.get_running_loop()
        lost = asyncio.Event()
        manager = _Manager(
            on_lost=lambda _exc: lost.set(),
            loop=loop,
            host=self._host,
            port=self._port,
            log=log,
        )
        manager.register_event("*", self._on_event)
        protocol: _AmiProtocol | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _transport, protocol = await loop.create_connection(
                    lambda: _AmiProtocol(manager), self._host, self._port
                )
                greeting = await protocol.greeting
                if not greeting.startswith(_GREETING):
                    raise AmiUnavailable(
                        f"{self.address} is not an Asterisk Manager Interface "
                        f"(it greeted {greeting!r})"
                    )
                login = Action(
                    {
                        "Action": "Login",
                        "Username": self._username,
                        "Secret": self._secret,
                        "Events": "on",
                    }
                )
                answer = await protocol.send(login)
        except TimeoutError as exc:
            self._discard(protocol)
            stage = "connect" if protocol is None else "log in"
            raise AmiUnavailable(
                f"could not {stage} to AMI at {self.address} within {self._connect_timeout:g}s"
            ) from exc
        except AmiUnavailable:  # not an AMI greeting, or the link closed during login
            self._discard(protocol)
            raise
        except OSError as exc:
            self._discard(protocol)
            raise AmiUnavailable(f"cannot reach AMI at {self.address}: {exc}") from exc
        except BaseException:
            self._discard(protocol)
            raise
        assert protocol is not None
        if not answer.success:
            self._discard(protocol)
            reason = answer.message or answer.response or "no reason given"
            raise AmiLoginError(
                f"Asterisk at {self.address} refused the AMI login of user {self._username!r}: "
                f"{reason}. Check ami.username and ami.secret against manager.conf."
            )
        log.info("AMI logged in to %s (protocol %s)", self.address, protocol.version)
        self._drop()
        self._protocol = protocol
        self._lost = lost

    @staticmethod
    def _discard(protocol: _AmiProtocol | None) -> None:
        if protocol is not None:
            protocol.close()

    def _drop(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()

    def _on_event(self, _manager: Any, message: Any) -> None:
        # Called synchronously from the protocol's reader, in wire order. Never raise into it.
        try:
            event = parse_event(message)
        except AmiParseError as exc:
            log.warning("dropped AMI event: %s", exc)
            return
        except Exception:
            log.exception("dropped AMI event that could not be parsed: %r", message)
            return
        if event is None:
            return
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            log.error("AMI event queue full: dropped %s", event.event_name)

    def _report(self, up: bool) -> None:
        if up == self._link_up:
            return
        self._link_up = up
        if up:
            log.info("AMI link to %s is up", self.address)
        else:
            log.warning("AMI link to %s is down", self.address)
        if self._on_link is not None:
            try:
                self._on_link(up)
            except Exception:
                log.exception("AMI link callback failed")

    # --- keeping the link --------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            await self._watch()
            self._drop()
            self._report(False)
            await self._reconnect()
            self._report(True)

    async def _watch(self) -> None:
        """Return once the link is lost, or is dead because Ping goes unanswered."""
        lost = self._lost
        assert lost is not None
        while not lost.is_set():
            try:
                async with asyncio.timeout(self._ping_interval):
                    await lost.wait()
                return
            except TimeoutError:
                pass
            try:
                await self._request({"Action": "Ping"}, self._ping_timeout)
            except AmiActionTimeout:
                log.warning(
                    "AMI at %s did not answer Ping within %gs: reconnecting",
                    self.address,
                    self._ping_timeout,
                )
                return
            except AmiActionError as exc:
                log.warning("AMI Ping refused (the link is alive): %s", exc)
            except AmiError:  # AmiUnavailable: lost while waiting for the Pong
                return

    async def _reconnect(self) -> None:
        for delay in _backoff(self._reconnect_min_delay, self._reconnect_max_delay):
            await asyncio.sleep(delay)
            try:
                await self._open()
                return
            except AmiLoginError as exc:
                log.error("AMI reconnect: %s", exc)
            except AmiUnavailable as exc:
                log.warning("AMI reconnect: %s", exc)
            except Exception:
                log.exception("AMI reconnect failed unexpectedly")
