"""Writing and sending single messages, without Qt.

- ``build``: the ``Draft`` a composer edits and ``build_message`` (MIME).
- ``reply``: drafts for reply, reply all and forward of a stored message.
- ``drafts``: local and Drafts-folder copies of drafts.
- ``outbox``: the durable outbox file with undo and send later.
- ``sending``: ``queue_draft`` and the ``OutboxSender`` loop.
- ``contacts``: address completion from the store.
- ``snippets``: text blocks with Jinja2 placeholders.
- ``followup``: reminders when a sent message gets no reply.
"""
