"""The notifications as `Settings` configure them: address policy, retries, SMTP,
and the worker."""

from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.notify.events import Channel
from coordinator.notify.policy import AddressPolicy, Retry, parse_networks
from coordinator.notify.senders import EmailSender, Sender, SmtpConfig, WebhookSender
from coordinator.notify.worker import NotifyWorker

__all__ = ["address_policy", "notify_worker", "retry", "smtp_config"]


def address_policy(settings: Settings) -> AddressPolicy:
    return AddressPolicy(
        allow_private=settings.notify_allow_private,
        allowed=parse_networks(settings.notify_allowed_networks),
    )


def retry(settings: Settings) -> Retry:
    return Retry(
        base_s=settings.notify_backoff_base_s,
        cap_s=settings.notify_backoff_cap_s,
        max_attempts=settings.notify_max_attempts,
    )


def smtp_config(settings: Settings) -> SmtpConfig | None:
    """None when no SMTP server is configured: users cannot opt in by email."""
    if not settings.smtp_host:
        return None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=None
        if settings.smtp_password is None
        else settings.smtp_password.get_secret_value(),
        sender=settings.smtp_from,
        timeout_s=settings.notify_timeout_s,
    )


def notify_worker(settings: Settings, engine: Engine) -> NotifyWorker:
    senders: dict[Channel, Sender] = {
        Channel.WEBHOOK: WebhookSender(
            address_policy(settings), timeout_s=settings.notify_timeout_s
        )
    }
    smtp = smtp_config(settings)
    if smtp is not None:
        senders[Channel.EMAIL] = EmailSender(smtp)
    return NotifyWorker(
        engine,
        senders=senders,
        retry=retry(settings),
        epoch_length_s=settings.epoch_length_s,
        interval_s=settings.notify_interval_s,
        lease_s=settings.notify_lease_s,
        overlap_s=settings.notify_scan_overlap_s,
        retention_s=settings.notify_retention_days * 86400,
    )
