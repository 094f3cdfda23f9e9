<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
    <context>
        <name>AttachmentBar</name>
        <message numerus="yes">
            <source>Saved %n attachment(s) to %1</source>
            <translation>
                <numerusform>Saved %n attachment to %1</numerusform>
                <numerusform>Saved %n attachments to %1</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>BulkCommands</name>
        <message numerus="yes">
            <source>Move %Ln message(s) to %1?</source>
            <translation>
                <numerusform>Move %Ln message to %1?</numerusform>
                <numerusform>Move %Ln messages to %1?</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Moved %Ln message(s) to %1</source>
            <translation>
                <numerusform>Moved %Ln message to %1</numerusform>
                <numerusform>Moved %Ln messages to %1</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Copied %Ln message(s) to %1</source>
            <translation>
                <numerusform>Copied %Ln message to %1</numerusform>
                <numerusform>Copied %Ln messages to %1</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Changed the labels of %Ln message(s) (%1)</source>
            <translation>
                <numerusform>Changed the labels of %Ln message (%1)</numerusform>
                <numerusform>Changed the labels of %Ln messages (%1)</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Move %Ln message(s) out of their folder?</source>
            <translation>
                <numerusform>Move %Ln message out of its folder?</numerusform>
                <numerusform>Move %Ln messages out of their folder?</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Reported %Ln message(s) as spam</source>
            <translation>
                <numerusform>Reported %Ln message as spam</numerusform>
                <numerusform>Reported %Ln messages as spam</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Marked %Ln message(s) as not spam and moved them to INBOX</source>
            <translation>
                <numerusform>Marked %Ln message as not spam and moved it to INBOX</numerusform>
                <numerusform>Marked %Ln messages as not spam and moved them to INBOX</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%1; %Ln back to INBOX as not spam</source>
            <translation>
                <numerusform>%1; %Ln back to INBOX as not spam</numerusform>
                <numerusform>%1; %Ln back to INBOX as not spam</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%Ln selected message(s)</source>
            <translation>
                <numerusform>%Ln selected message</numerusform>
                <numerusform>%Ln selected messages</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>FailedRowsDialog</name>
        <message numerus="yes">
            <source>Merge {0} has %n failed row(s) that can be sent again. The server rejected each of these messages, so sending them again reaches nobody twice. Fix the cause first (a full mailbox, a server that was down), then send them again with the options the merge started with.</source>
            <translation>
                <numerusform>Merge {0} has %n failed row that can be sent again. The server rejected this message, so sending it again reaches nobody twice. Fix the cause first (a full mailbox, a server that was down), then send it again with the options the merge started with.</numerusform>
                <numerusform>Merge {0} has %n failed rows that can be sent again. The server rejected each of these messages, so sending them again reaches nobody twice. Fix the cause first (a full mailbox, a server that was down), then send them again with the options the merge started with.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n row(s) stay failed, because the server replied that the address does not exist and the address is on the suppression list. To send to such an address anyway, take it off the list with "sluice merge suppress remove ADDRESS" and open this list again.</source>
            <translation>
                <numerusform>%n row stays failed, because the server replied that its address does not exist and the address is on the suppression list. To send to this address anyway, take it off the list with "sluice merge suppress remove ADDRESS" and open this list again.</numerusform>
                <numerusform>%n rows stay failed, because the server replied that their addresses do not exist and the addresses are on the suppression list. To send to such an address anyway, take it off the list with "sluice merge suppress remove ADDRESS" and open this list again.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Send %n row(s) again</source>
            <translation>
                <numerusform>Send %n row again</numerusform>
                <numerusform>Send %n rows again</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>FolderCommands</name>
        <message numerus="yes">
            <source>Delete folder %1 of account %2 with its %n message(s)?

It is deleted on the server too, and this cannot be undone.</source>
            <translation>
                <numerusform>Delete folder %1 of account %2 with its %n message?

It is deleted on the server too, and this cannot be undone.</numerusform>
                <numerusform>Delete folder %1 of account %2 with its %n messages?

It is deleted on the server too, and this cannot be undone.</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>FolderTreeModel</name>
        <message numerus="yes">
            <source>%n message(s)</source>
            <translation>
                <numerusform>%n message</numerusform>
                <numerusform>%n messages</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>MainWindow</name>
        <message numerus="yes">
            <source>%n message(s)</source>
            <translation>
                <numerusform>%n message</numerusform>
                <numerusform>%n messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%Ln selected</source>
            <translation>
                <numerusform>%Ln selected</numerusform>
                <numerusform>%Ln selected</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Starred %Ln message(s)</source>
            <translation>
                <numerusform>Starred %Ln message</numerusform>
                <numerusform>Starred %Ln messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Unstarred %Ln message(s)</source>
            <translation>
                <numerusform>Unstarred %Ln message</numerusform>
                <numerusform>Unstarred %Ln messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Marked %Ln message(s) read</source>
            <translation>
                <numerusform>Marked %Ln message read</numerusform>
                <numerusform>Marked %Ln messages read</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Marked %Ln message(s) unread</source>
            <translation>
                <numerusform>Marked %Ln message unread</numerusform>
                <numerusform>Marked %Ln messages unread</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n message(s) found</source>
            <translation>
                <numerusform>%n message found</numerusform>
                <numerusform>%n messages found</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n problem(s) in the key bindings; the default keys stay in force for those lines:</source>
            <translation>
                <numerusform>%n problem in the key bindings; the default keys stay in force for that line:</numerusform>
                <numerusform>%n problems in the key bindings; the default keys stay in force for those lines:</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Archive %Ln message(s)?</source>
            <translation>
                <numerusform>Archive %Ln message?</numerusform>
                <numerusform>Archive %Ln messages?</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Archived %Ln message(s)</source>
            <translation>
                <numerusform>Archived %Ln message</numerusform>
                <numerusform>Archived %Ln messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Deleted %Ln message(s) for good</source>
            <translation>
                <numerusform>Deleted %Ln message for good</numerusform>
                <numerusform>Deleted %Ln messages for good</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%1; moved %Ln to Trash</source>
            <translation>
                <numerusform>%1; moved %Ln to Trash</numerusform>
                <numerusform>%1; moved %Ln to Trash</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Moved %Ln message(s) to Trash</source>
            <translation>
                <numerusform>Moved %Ln message to Trash</numerusform>
                <numerusform>Moved %Ln messages to Trash</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Delete %Ln message(s) for good?</source>
            <translation>
                <numerusform>Delete %Ln message for good?</numerusform>
                <numerusform>Delete %Ln messages for good?</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Delete %Ln message(s)?</source>
            <translation>
                <numerusform>Delete %Ln message?</numerusform>
                <numerusform>Delete %Ln messages?</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%Ln draft(s) were kept on this computer, in the Drafts folder. The next sync saves them on the server.</source>
            <translation>
                <numerusform>%Ln draft was kept on this computer, in the Drafts folder. The next sync saves it on the server.</numerusform>
                <numerusform>%Ln drafts were kept on this computer, in the Drafts folder. The next sync saves them on the server.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%Ln message(s) wait in the outbox and are sent when Sluice opens again.</source>
            <translation>
                <numerusform>%Ln message waits in the outbox and is sent when Sluice opens again.</numerusform>
                <numerusform>%Ln messages wait in the outbox and are sent when Sluice opens again.</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>MergeSendPanel</name>
        <message numerus="yes">
            <source>Rate {0:.0f} messages/min; %Ln row(s) wait to be retried, the first in {1} ({2})</source>
            <translation>
                <numerusform>Rate {0:.0f} messages/min; %Ln row waits to be retried in {1} ({2})</numerusform>
                <numerusform>Rate {0:.0f} messages/min; %Ln rows wait to be retried, the first in {1} ({2})</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Sent {0} of %Ln test message(s) to {1}</source>
            <translation>
                <numerusform>Sent {0} of %Ln test message to {1}</numerusform>
                <numerusform>Sent {0} of %Ln test messages to {1}</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Sent {0} of %Ln message(s)</source>
            <translation>
                <numerusform>Sent {0} of %Ln message</numerusform>
                <numerusform>Sent {0} of %Ln messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Stopped after sending {0} of %Ln test message(s) to {1}</source>
            <translation>
                <numerusform>Stopped after sending {0} of %Ln test message to {1}</numerusform>
                <numerusform>Stopped after sending {0} of %Ln test messages to {1}</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Stopped after sending {0} of %Ln message(s)</source>
            <translation>
                <numerusform>Stopped after sending {0} of %Ln message</numerusform>
                <numerusform>Stopped after sending {0} of %Ln messages</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>MergeWindow</name>
        <message numerus="yes">
            <source>Each of the first %n row(s) has errors, so the test sends nothing. Fix them (see Check), or raise the number of test messages to include rows without errors.</source>
            <translation>
                <numerusform>The first row has errors, so the test sends nothing. Fix them (see Check), or raise the number of test messages to include rows without errors.</numerusform>
                <numerusform>Each of the first %n rows has errors, so the test sends nothing. Fix them (see Check), or raise the number of test messages to include rows without errors.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Leaving out %n of the first {0} rows of the test, because they have errors (see Check).</source>
            <translation>
                <numerusform>Leaving out %n of the first {0} rows of the test, because it has errors (see Check).</numerusform>
                <numerusform>Leaving out %n of the first {0} rows of the test, because they have errors (see Check).</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>The check found errors in %n row(s).</source>
            <translation>
                <numerusform>The check found errors in %n row.</numerusform>
                <numerusform>The check found errors in %n rows.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>The check found errors in %n row(s) (see Check).</source>
            <translation>
                <numerusform>The check found errors in %n row (see Check).</numerusform>
                <numerusform>The check found errors in %n rows (see Check).</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Send only the %Ln message(s) of the rows without errors, and leave the rows with errors out?</source>
            <translation>
                <numerusform>Send only the %Ln message of the rows without errors, and leave the rows with errors out?</numerusform>
                <numerusform>Send only the %Ln messages of the rows without errors, and leave the rows with errors out?</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%Ln row(s) with a suppressed address are left out as well.</source>
            <translation>
                <numerusform>%Ln row with a suppressed address is left out as well.</numerusform>
                <numerusform>%Ln rows with a suppressed address are left out as well.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Leave out %n row(s) and send</source>
            <translation>
                <numerusform>Leave out %n row and send</numerusform>
                <numerusform>Leave out %n rows and send</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>RuleCommands</name>
        <message numerus="yes">
            <source>Undid “%1”: %n message(s) restored</source>
            <translation>
                <numerusform>Undid “%1”: %n message restored</numerusform>
                <numerusform>Undid “%1”: %n messages restored</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>; %n left alone because they changed since</source>
            <translation>
                <numerusform>; %n left alone because it changed since</numerusform>
                <numerusform>; %n left alone because they changed since</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Rules loaded: %n rule(s) active</source>
            <translation>
                <numerusform>Rules loaded: %n rule active</numerusform>
                <numerusform>Rules loaded: %n rules active</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Rule files have %n problem(s); the previous rules stay active.</source>
            <translation>
                <numerusform>Rule files have %n problem; the previous rules stay active.</numerusform>
                <numerusform>Rule files have %n problems; the previous rules stay active.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Rule files have %n problem(s); no rules run until they are fixed.</source>
            <translation>
                <numerusform>Rule files have %n problem; no rules run until it is fixed.</numerusform>
                <numerusform>Rule files have %n problems; no rules run until they are fixed.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>moved %n message(s)</source>
            <translation>
                <numerusform>moved %n message</numerusform>
                <numerusform>moved %n messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>archived %n message(s)</source>
            <translation>
                <numerusform>archived %n message</numerusform>
                <numerusform>archived %n messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>deleted %n message(s)</source>
            <translation>
                <numerusform>deleted %n message</numerusform>
                <numerusform>deleted %n messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>copied %n message(s)</source>
            <translation>
                <numerusform>copied %n message</numerusform>
                <numerusform>copied %n messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>changed the flags of %n message(s)</source>
            <translation>
                <numerusform>changed the flags of %n message</numerusform>
                <numerusform>changed the flags of %n messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>put %n message(s) in lanes</source>
            <translation>
                <numerusform>put %n message in lanes</numerusform>
                <numerusform>put %n messages in lanes</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>set the priority of %n message(s)</source>
            <translation>
                <numerusform>set the priority of %n message</numerusform>
                <numerusform>set the priority of %n messages</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>sent %n auto-reply(ies)</source>
            <translation>
                <numerusform>sent %n auto-reply</numerusform>
                <numerusform>sent %n auto-replies</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>changed %n message(s)</source>
            <translation>
                <numerusform>changed %n message</numerusform>
                <numerusform>changed %n messages</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>RuleEditor</name>
        <message numerus="yes">
            <source>Saved %1. It has %n problem(s), so the previous rules stay active.</source>
            <translation>
                <numerusform>Saved %1. It has %n problem, so the previous rules stay active.</numerusform>
                <numerusform>Saved %1. It has %n problems, so the previous rules stay active.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Saved %1. It has %n problem(s); no rules run until they are fixed.</source>
            <translation>
                <numerusform>Saved %1. It has %n problem; no rules run until it is fixed.</numerusform>
                <numerusform>Saved %1. It has %n problems; no rules run until they are fixed.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Saved %1. Its rules are active, but check the %n problem(s) listed below.</source>
            <translation>
                <numerusform>Saved %1. Its rules are active, but check the %n problem listed below.</numerusform>
                <numerusform>Saved %1. Its rules are active, but check the %n problems listed below.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Testing %n rule(s); nothing changes.</source>
            <translation>
                <numerusform>Testing %n rule; nothing changes.</numerusform>
                <numerusform>Testing %n rules; nothing changes.</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>RulePreviewModel</name>
        <message numerus="yes">
            <source> (%n auto-reply(ies) not sent to existing mail)</source>
            <translation>
                <numerusform> (%n auto-reply not sent to existing mail)</numerusform>
                <numerusform> (%n auto-replies not sent to existing mail)</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>RulePreviewPane</name>
        <message numerus="yes">
            <source>%n message(s) in %1 match the rules. Nothing has changed yet.</source>
            <translation>
                <numerusform>%n message in %1 matches the rules. Nothing has changed yet.</numerusform>
                <numerusform>%n messages in %1 match the rules. Nothing has changed yet.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n message(s) need their body for a rule and are left until it is downloaded.</source>
            <translation>
                <numerusform>%n message needs its body for a rule and is left until it is downloaded.</numerusform>
                <numerusform>%n messages need their body for a rule and are left until it is downloaded.</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Apply sends no auto-replies to existing mail, so %n auto-reply(ies) of the rules would not go out. Auto-replies answer new mail during sync.</source>
            <translation>
                <numerusform>Apply sends no auto-replies to existing mail, so %n auto-reply of the rules would not go out. Auto-replies answer new mail during sync.</numerusform>
                <numerusform>Apply sends no auto-replies to existing mail, so %n auto-replies of the rules would not go out. Auto-replies answer new mail during sync.</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>SavedSearchViews</name>
        <message numerus="yes">
            <source>%n message(s) match the saved search</source>
            <translation>
                <numerusform>%n message matches the saved search</numerusform>
                <numerusform>%n messages match the saved search</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%n problem(s) in the saved searches; the searches on those lines are left out:</source>
            <translation>
                <numerusform>%n problem in the saved searches; the search on that line is left out:</numerusform>
                <numerusform>%n problems in the saved searches; the searches on those lines are left out:</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>Selection</name>
        <message numerus="yes">
            <source>The other %n selected message(s) move to Trash.</source>
            <translation>
                <numerusform>The other selected message moves to Trash.</numerusform>
                <numerusform>The other %n selected messages move to Trash.</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>SnoozeCommands</name>
        <message numerus="yes">
            <source>Snoozed %Ln message(s) until %1</source>
            <translation>
                <numerusform>Snoozed %Ln message until %1</numerusform>
                <numerusform>Snoozed %Ln messages until %1</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>%Ln snoozed message(s) came back</source>
            <translation>
                <numerusform>%Ln snoozed message came back</numerusform>
                <numerusform>%Ln snoozed messages came back</numerusform>
            </translation>
        </message>
    </context>
    <context>
        <name>UnknownRowsDialog</name>
        <message numerus="yes">
            <source>Merge {0} has %n row(s) of unknown outcome: the connection broke after the message was sent and before the server replied, or the send stopped at that moment. Each message may or may not have arrived. Send them again only when you know they did not arrive (ask the recipients, or look at the server's log).</source>
            <translation>
                <numerusform>Merge {0} has %n row of unknown outcome: the connection broke after the message was sent and before the server replied, or the send stopped at that moment. The message may or may not have arrived. Send it again only when you know it did not arrive (ask the recipient, or look at the server's log).</numerusform>
                <numerusform>Merge {0} has %n rows of unknown outcome: the connection broke after the message was sent and before the server replied, or the send stopped at that moment. Each message may or may not have arrived. Send them again only when you know they did not arrive (ask the recipients, or look at the server's log).</numerusform>
            </translation>
        </message>
        <message numerus="yes">
            <source>Send %n row(s) again</source>
            <translation>
                <numerusform>Send %n row again</numerusform>
                <numerusform>Send %n rows again</numerusform>
            </translation>
        </message>
    </context>
</TS>
