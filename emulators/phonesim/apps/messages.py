"""Messages (com.android.messaging): conversations, a thread of bubbles, and composing a new message.

Messages live in ``PhoneState.sms`` (the shell's ``content://sms``); sending stores a row of type 2
(sent) addressed to the contact's first phone number or to the number typed. Threads are grouped by
``thread_id`` and listed newest first; opening one marks its received messages read. Resource ids follow
AOSP Messaging (``start_new_conversation_button``, ``recipient_text_view``, ``compose_message_text``,
``send_message_button``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from emulators.phonesim.apps.base import App, AppContext, register
from emulators.phonesim.state import Contact, PhoneState, Sms
from emulators.phonesim.ui import (
    Column,
    Icon,
    ListView,
    Page,
    Row,
    Spacer,
    Text,
    TextField,
    Widget,
    fab,
    list_item,
)

PKG = "com.android.messaging"
DIAL_CHARS = set("0123456789+-() .")
MIN_MATCH_DIGITS = 7  # numbers with and without a country code match on their last digits


class BadRecipient(ValueError):
    """The "To" field holds neither a contact's name nor a phone number."""


def same_number(a: str, b: str) -> bool:
    """Whether two phone numbers reach the same phone (loosely, as Android compares them)."""
    da, db = "".join(c for c in a if c.isdigit()), "".join(c for c in b if c.isdigit())
    if not da or not db:
        return False
    if da == db:
        return True
    n = min(len(da), len(db))
    return n >= MIN_MATCH_DIGITS and da[-n:] == db[-n:]


def contact_for(state: PhoneState, address: str) -> Contact | None:
    return next((c for c in state.contacts if any(same_number(p, address) for p in c.phones)), None)


def display_name(state: PhoneState, address: str) -> str:
    contact = contact_for(state, address)
    return contact.name if contact is not None and contact.name else address


def resolve_recipient(state: PhoneState, text: str) -> str:
    """The address to send to: a contact's first number (name typed in full) or the number typed."""
    wanted = text.strip()
    for c in state.contacts:
        if c.name.strip().lower() == wanted.lower() and c.phones:
            return c.phones[0]
    if wanted and set(wanted) <= DIAL_CHARS and sum(ch.isdigit() for ch in wanted) >= 3:
        return wanted
    raise BadRecipient(f"Can't send to {wanted!r}: pick a contact or type a phone number" if wanted
                       else "Add a recipient")


def threads(state: PhoneState) -> list[list[Sms]]:
    """Messages grouped by thread (each oldest first), threads ordered by their latest message."""
    by_thread: dict[int, list[Sms]] = {}
    for m in sorted(state.sms, key=lambda m: (m.date_ms, m.id)):
        by_thread.setdefault(m.thread_id, []).append(m)
    return sorted(by_thread.values(), key=lambda ms: (ms[-1].date_ms, ms[-1].id), reverse=True)


def short_time(now: dt.datetime, date_ms: int) -> str:
    """``14:05`` for today, ``Mar 1`` otherwise (as the conversation list shows it)."""
    when = dt.datetime.fromtimestamp(date_ms / 1000, tz=dt.UTC)
    return when.strftime("%H:%M") if when.date() == now.date() else when.strftime("%b %-d")


def _replace(ctx: AppContext, route: str, **args: object) -> None:
    """Turn the current page into ``route`` (compose becomes the conversation it started)."""
    fresh = ctx.app.new_screen(route, args)
    ctx.screen.activity, ctx.screen.route, ctx.screen.args = fresh.activity, fresh.route, fresh.args
    ctx.screen.values, ctx.screen.focus, ctx.screen.dialog = {}, None, None


@register
class MessagesApp(App):
    package = PKG
    label = "Messages"
    icon = "message"
    colour = (26, 115, 232)
    routes = {"main": ".ui.conversationlist.ConversationListActivity",
              "thread": ".ui.conversation.ConversationActivity",
              "new": ".ui.conversation.NewConversationActivity"}

    # -- conversation list --------------------------------------------------------------------------
    def page_main(self, ctx: AppContext) -> Page:
        s = ctx.state
        rows: list[Widget] = []
        for msgs in threads(s):
            last = msgs[-1]
            name = display_name(s, last.address)
            unread = sum(1 for m in msgs if m.type == 1 and not m.read)
            snippet = ("You: " if last.type == 2 else "") + last.body.replace("\n", " ")
            when = Text(short_time(s.now, last.date_ms), 12, "accent" if unread else "secondary",
                        rid=f"{PKG}:id/conversation_timestamp")
            rows.append(list_item(name, snippet, icon="person", trailing=when,
                                  on_click=lambda t=last.thread_id: self._open_thread(ctx, t),
                                  rid=f"{PKG}:id/swipeableContent",
                                  desc=f"{name}, {unread} unread" if unread else name))
        body: Widget = ListView(ctx.screen, "threads", rows, rid=f"{PKG}:id/conversation_list")
        if not rows:
            body = Column([Text("No conversations yet", 16, "secondary", align="center",
                                rid=f"{PKG}:id/no_conversations")], pad=(16, 48, 16, 16))
        return self.page(ctx, "Messages", body, fab=fab("message", "Start chat", lambda: ctx.push("new"),
                                                        rid=f"{PKG}:id/start_new_conversation_button"))

    def _open_thread(self, ctx: AppContext, thread_id: int) -> None:
        for m in ctx.state.sms:
            if m.thread_id == thread_id and not m.read:
                m.read = True
        ctx.state.touch()
        ctx.push("thread", thread_id=thread_id)

    # -- one conversation ---------------------------------------------------------------------------
    def page_thread(self, ctx: AppContext) -> Page:
        s = ctx.state
        thread_id = ctx.screen.args.get("thread_id")
        msgs = sorted((m for m in s.sms if m.thread_id == thread_id), key=lambda m: (m.date_ms, m.id))
        address = str(ctx.screen.args.get("address") or (msgs[-1].address if msgs else ""))
        ctx.screen.values.setdefault("messages#scroll", 1 << 30)  # open at the newest message
        bubbles = [self._bubble(s, m) for m in msgs]
        body = Column([ListView(ctx.screen, "messages", bubbles, gap=6, rid=f"{PKG}:id/message_list"),
                       self._compose_bar(ctx, lambda: self._send_in_thread(ctx, address))])
        return self.page(ctx, display_name(s, address) or "Conversation", body)

    def _bubble(self, state: PhoneState, m: Sms) -> Widget:
        sent = m.type == 2
        role = "on_accent" if sent else "primary"
        stamp = short_time(state.now, m.date_ms) + (" - Sent" if sent else "")
        bubble = Column([Text(m.body, 15, role, wrap_lines=True, rid=f"{PKG}:id/message_text"),
                         Text(stamp, 11, role if sent else "secondary",
                              rid=f"{PKG}:id/message_status")],
                        pad=(14, 10, 14, 10), gap=4, bg="accent" if sent else "surface", radius=18, weight=3,
                        desc=("Sent: " if sent else "Received: ") + m.body, rid=f"{PKG}:id/message_content")
        spacer = Spacer(0, weight=1)
        return Row([spacer, bubble] if sent else [bubble, spacer], pad=(12, 2, 12, 2))

    def _compose_bar(self, ctx: AppContext, send: Callable[[], None]) -> Widget:
        field = TextField(ctx.screen, "body", "Text message", rid=f"{PKG}:id/compose_message_text", weight=1)
        button = Icon("chevron", 28, "accent", desc="Send SMS", on_click=send,
                      rid=f"{PKG}:id/send_message_button")
        return Row([field, button], pad=(12, 6, 4, 8), gap=4, bg="surface")

    def _send_in_thread(self, ctx: AppContext, address: str) -> None:
        body = ctx.screen.text("body").strip()
        if not body or not address:
            ctx.toast("Type a message first" if address else "This conversation has no recipient")
            return
        sms = ctx.state.add_sms(address, body, type=2)
        ctx.screen.args["thread_id"] = sms.thread_id
        ctx.screen.values.update(body="")
        ctx.screen.values["messages#scroll"] = 1 << 30

    # -- new conversation -----------------------------------------------------------------------------
    def page_new(self, ctx: AppContext) -> Page:
        if "opened" not in ctx.screen.values:  # the "To" field starts focused, keyboard up
            ctx.screen.values["opened"] = True
            ctx.screen.focus = "to"
        to = TextField(ctx.screen, "to", "Type a name or phone number", rid=f"{PKG}:id/recipient_text_view",
                       weight=1, on_submit=lambda: setattr(ctx.screen, "focus", "body"))
        to_row = Row([Text("To", 16, "secondary"), to], pad=(16, 4, 16, 4), gap=12)
        suggestions = ListView(ctx.screen, "contacts", self._suggestions(ctx),
                               rid=f"{PKG}:id/contact_picker_list")
        body = Column([to_row, suggestions, self._compose_bar(ctx, lambda: self._send_new(ctx))])
        return self.page(ctx, "New conversation", body)

    def _suggestions(self, ctx: AppContext) -> list[Widget]:
        """Contacts whose name or number matches what is typed in "To" (all of them while it is empty)."""
        typed = ctx.screen.text("to").strip().lower()
        digits = "".join(ch for ch in typed if ch.isdigit())
        rows: list[Widget] = []
        for c in sorted(ctx.state.contacts, key=lambda c: c.name.lower()):
            for phone in c.phones:
                phone_digits = "".join(ch for ch in phone if ch.isdigit())
                if typed and typed not in c.name.lower() and not (digits and digits in phone_digits):
                    continue
                if [c.name, phone] == ctx.screen.values.get("picked") and typed == c.name.lower():
                    continue  # already picked
                rows.append(list_item(c.name, phone, icon="person", rid=f"{PKG}:id/contact_list_item",
                                      desc=f"{c.name} {phone}",
                                      on_click=lambda c=c, p=phone: self._pick(ctx, c.name, p)))
        return rows

    def _pick(self, ctx: AppContext, name: str, phone: str) -> None:
        ctx.screen.values.update(to=name, picked=[name, phone])
        ctx.screen.focus = "body"

    def _send_new(self, ctx: AppContext) -> None:
        picked = ctx.screen.values.get("picked")
        try:
            if isinstance(picked, list) and picked[0] == ctx.screen.text("to"):
                address = str(picked[1])
            else:
                address = resolve_recipient(ctx.state, ctx.screen.text("to"))
        except BadRecipient as e:
            ctx.toast(str(e))
            return
        body = ctx.screen.text("body").strip()
        if not body:
            ctx.toast("Type a message first")
            return
        sms = ctx.state.add_sms(address, body, type=2)
        _replace(ctx, "thread", thread_id=sms.thread_id, address=address)
