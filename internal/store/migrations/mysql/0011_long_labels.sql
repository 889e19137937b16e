-- TRUSTED_DOMAINS_UPDATED (docs/API.md §14) labels its event with the new
-- list of trusted domains, comma-separated: up to 50 domains of up to 253
-- characters (255 with a leading "*."), 12,799 characters in all, where an
-- email address or a host name needed 320. Widening a VARCHAR whose length
-- already takes two bytes changes no row, so it is done in place. The
-- label's key keeps its size: a label longer than a targetLabel filter can
-- be has no key (store.key), since no filter can match it.
ALTER TABLE audit_events MODIFY target_label VARCHAR(12800) NULL;
