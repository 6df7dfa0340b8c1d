-- Seed schema, part 7: every e-mail sent (the gateway sends budget alerts through SendGrid).
-- Rows outlive the organization or user they concern (ON DELETE SET NULL): the log is an
-- audit trail. Conventions: see 0001.

CREATE TABLE email_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id UUID REFERENCES organizations (id) ON DELETE SET NULL,
    user_id UUID REFERENCES users (id) ON DELETE SET NULL,
    email_type TEXT NOT NULL,
    recipient_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    sendgrid_message_id TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    error_message TEXT,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ DEFAULT NOW(),
    sent_at TIMESTAMPTZ
);

CREATE INDEX idx_email_logs_org ON email_logs (org_id);
CREATE INDEX idx_email_logs_user ON email_logs (user_id);
CREATE INDEX idx_email_logs_type ON email_logs (email_type);
CREATE INDEX idx_email_logs_status ON email_logs (status);
CREATE INDEX idx_email_logs_created ON email_logs (created_at);

COMMENT ON TABLE email_logs IS 'Audit trail for all emails sent through the system';
COMMENT ON COLUMN email_logs.sendgrid_message_id IS 'SendGrid X-Message-Id for delivery tracking';
