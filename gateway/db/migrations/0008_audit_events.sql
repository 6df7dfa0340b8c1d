-- Seed schema, part 8: audit events (who did what to which resource). user_id is a legacy
-- TEXT id without a foreign key, as in the reference, so events survive user deletion.
-- Conventions: see 0001.

CREATE TABLE audit_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    action TEXT NOT NULL,
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_audit_events_resource ON audit_events (resource_type, resource_id, created_at);
CREATE INDEX idx_audit_events_user ON audit_events (user_id, created_at);
CREATE INDEX idx_audit_events_type ON audit_events (event_type, created_at);
CREATE INDEX idx_audit_events_created ON audit_events (created_at);
