"""Transactional send requests: the SDK's ``Send*Request`` classes, with the same constructors.

Each class keeps its fields as attributes (as the SDK does) and knows its App API endpoint
(``kind``) and field map. :func:`send_payload` in :mod:`cio_pipeline.producer.sends` turns one into
the validated request dict that a job carries.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from cio_pipeline.producer.errors import CustomerIOException, ValidationError

__all__ = [
    "SendEmailRequest",
    "SendInAppRequest",
    "SendInboxMessageRequest",
    "SendPushRequest",
    "SendRequest",
    "SendSMSRequest",
    "SendWhatsAppRequest",
]

_COMMON = (
    "transactional_message_id",
    "identifiers",
    "disable_message_retention",
    "queue_draft",
    "message_data",
    "send_at",
    "language",
)


class SendRequest:
    """Base of the send requests: ``_to_dict()`` gives the API body without ``None`` fields."""

    kind: ClassVar[str]
    #: attribute name -> field name in the API body
    field_map: ClassVar[dict[str, str]]

    def _to_dict(self) -> dict[str, Any]:
        return {
            wire: value
            for attr, wire in self.field_map.items()
            if (value := getattr(self, attr, None)) is not None
        }


def _fields(*names: str, **renamed: str) -> dict[str, str]:
    mapping = {name: name for name in (*_COMMON, *names)}
    mapping.update(renamed)
    return mapping


class SendEmailRequest(SendRequest):
    """A transactional e-mail (``POST /v1/send/email``)."""

    kind = "email"
    field_map = _fields(
        "to",
        "headers",
        "reply_to",
        "cc",
        "bcc",
        "subject",
        "preheader",
        "body",
        "body_plain",
        "body_amp",
        "fake_bcc",
        "send_to_unsubscribed",
        "tracked",
        "attachments",
        "disable_css_preprocessing",
        _from="from",
    )

    def __init__(
        self,
        transactional_message_id: Any = None,
        to: Any = None,
        identifiers: Any = None,
        _from: Any = None,
        headers: Any = None,
        reply_to: Any = None,
        cc: Any = None,
        bcc: Any = None,
        subject: Any = None,
        preheader: Any = None,
        body: Any = None,
        body_plain: Any = None,
        body_amp: Any = None,
        fake_bcc: Any = None,
        disable_message_retention: Any = None,
        send_to_unsubscribed: Any = None,
        tracked: Any = None,
        queue_draft: Any = None,
        message_data: Any = None,
        attachments: Any = None,
        disable_css_preprocessing: Any = None,
        send_at: Any = None,
        language: Any = None,
    ) -> None:
        self.transactional_message_id = transactional_message_id
        self.to = to
        self.identifiers = identifiers
        self._from = _from
        self.headers = headers
        self.reply_to = reply_to
        self.cc = cc
        self.bcc = bcc
        self.subject = subject
        self.preheader = preheader
        self.body = body
        self.body_plain = body_plain
        self.body_amp = body_amp
        self.fake_bcc = fake_bcc
        self.disable_message_retention = disable_message_retention
        self.send_to_unsubscribed = send_to_unsubscribed
        self.tracked = tracked
        self.queue_draft = queue_draft
        self.message_data = message_data
        self.attachments = attachments
        self.disable_css_preprocessing = disable_css_preprocessing
        self.send_at = send_at
        self.language = language

    def attach(self, name: str, content: str | bytes, encode: bool = True) -> None:
        """Add an attachment, base64-encoding ``content`` unless ``encode`` is False."""
        if not self.attachments:
            self.attachments = {}
        if name in self.attachments:
            raise CustomerIOException(f"attachment {name} already exists")
        if encode:
            try:
                raw = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            except (UnicodeEncodeError, TypeError, ValueError):
                raise ValidationError(
                    "attachments", "content must be valid Unicode text or bytes"
                ) from None
            content = base64.b64encode(raw).decode()
        self.attachments[name] = content


class SendPushRequest(SendRequest):
    """A transactional push (``POST /v1/send/push``); ``device`` is sent as ``custom_device``."""

    kind = "push"
    field_map = _fields(
        "to",
        "send_to_unsubscribed",
        "title",
        "message",
        "image_url",
        "link",
        "custom_data",
        "custom_payload",
        "sound",
        device="custom_device",
    )

    def __init__(
        self,
        transactional_message_id: Any = None,
        to: Any = None,
        identifiers: Any = None,
        title: Any = None,
        message: Any = None,
        disable_message_retention: Any = None,
        send_to_unsubscribed: Any = None,
        queue_draft: Any = None,
        message_data: Any = None,
        send_at: Any = None,
        language: Any = None,
        image_url: Any = None,
        link: Any = None,
        custom_data: Any = None,
        custom_payload: Any = None,
        device: Any = None,
        sound: Any = None,
    ) -> None:
        self.transactional_message_id = transactional_message_id
        self.to = to
        self.identifiers = identifiers
        self.title = title
        self.message = message
        self.disable_message_retention = disable_message_retention
        self.send_to_unsubscribed = send_to_unsubscribed
        self.queue_draft = queue_draft
        self.message_data = message_data
        self.send_at = send_at
        self.language = language
        self.image_url = image_url
        self.link = link
        self.custom_data = custom_data
        self.custom_payload = custom_payload
        self.device = device
        self.sound = sound


class SendSMSRequest(SendRequest):
    """A transactional SMS (``POST /v1/send/sms``)."""

    kind = "sms"
    field_map = _fields("to", "send_to_unsubscribed")

    def __init__(
        self,
        transactional_message_id: Any = None,
        to: Any = None,
        identifiers: Any = None,
        disable_message_retention: Any = None,
        send_to_unsubscribed: Any = None,
        queue_draft: Any = None,
        message_data: Any = None,
        send_at: Any = None,
        language: Any = None,
    ) -> None:
        self.transactional_message_id = transactional_message_id
        self.to = to
        self.identifiers = identifiers
        self.disable_message_retention = disable_message_retention
        self.send_to_unsubscribed = send_to_unsubscribed
        self.queue_draft = queue_draft
        self.message_data = message_data
        self.send_at = send_at
        self.language = language


class SendWhatsAppRequest(SendRequest):
    """A transactional WhatsApp message (``POST /v1/send/whatsapp``)."""

    kind = "whatsapp"
    field_map = _fields("to", "send_to_unsubscribed", "tracked")

    def __init__(
        self,
        transactional_message_id: Any = None,
        to: Any = None,
        identifiers: Any = None,
        tracked: Any = None,
        disable_message_retention: Any = None,
        send_to_unsubscribed: Any = None,
        queue_draft: Any = None,
        message_data: Any = None,
        send_at: Any = None,
        language: Any = None,
    ) -> None:
        self.transactional_message_id = transactional_message_id
        self.to = to
        self.identifiers = identifiers
        self.tracked = tracked
        self.disable_message_retention = disable_message_retention
        self.send_to_unsubscribed = send_to_unsubscribed
        self.queue_draft = queue_draft
        self.message_data = message_data
        self.send_at = send_at
        self.language = language


class _TemplateOnlyRequest(SendRequest):
    """Inbox and in-app messages: common fields only."""

    field_map = _fields()

    def __init__(
        self,
        transactional_message_id: Any = None,
        identifiers: Any = None,
        disable_message_retention: Any = None,
        queue_draft: Any = None,
        message_data: Any = None,
        send_at: Any = None,
        language: Any = None,
    ) -> None:
        self.transactional_message_id = transactional_message_id
        self.identifiers = identifiers
        self.disable_message_retention = disable_message_retention
        self.queue_draft = queue_draft
        self.message_data = message_data
        self.send_at = send_at
        self.language = language


class SendInboxMessageRequest(_TemplateOnlyRequest):
    """A transactional inbox message (``POST /v1/send/inbox_message``)."""

    kind = "inbox_message"


class SendInAppRequest(_TemplateOnlyRequest):
    """A transactional in-app message (``POST /v1/send/in_app``)."""

    kind = "in_app"
