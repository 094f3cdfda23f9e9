"""Sending mail: the one SMTP path of the application (auto-replies now, compose and mail merge later)."""

from desktop.send.smtp import SendError, SendResult, SmtpSender

__all__ = ["SendError", "SendResult", "SmtpSender"]
