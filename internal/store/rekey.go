package store

import (
	"context"
	"database/sql"

	"gorm.io/gorm"

	"github.com/auditlogd/auditlogd/internal/email"
)

// rekeyBatch is how many rows one statement of a data step reads.
const rekeyBatch = 2000

// rekeyEmails is the data step of migration 0003: every stored email key is
// recomputed in the one canonical form of package email (ASCII case folded in
// the local part, IDNA domain), replacing the Unicode lower-casing that made
// look-alike addresses (a Kelvin sign, a long s) match. Only rows whose key
// changes are written, in primary-key batches; running it again finds
// nothing left to change.
func rekeyEmails(ctx context.Context, db *gorm.DB, _ Dialect) error {
	if err := rekeyUsers(ctx, db); err != nil {
		return err
	}
	if err := rekeyInvites(ctx, db); err != nil {
		return err
	}
	return rekeyEvents(ctx, db)
}

func rekeyUsers(ctx context.Context, db *gorm.DB) error {
	after := ""
	for {
		var rows []struct {
			ID       string
			Email    string
			EmailKey string
		}
		if err := db.WithContext(ctx).Raw("SELECT id, email, email_key FROM users WHERE id > ? ORDER BY id LIMIT ?", after, rekeyBatch).
			Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			if k := email.Key(r.Email); k != r.EmailKey {
				if err := db.WithContext(ctx).Exec("UPDATE users SET email_key = ? WHERE id = ?", k, r.ID).Error; err != nil {
					return err
				}
			}
		}
		if len(rows) < rekeyBatch {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

func rekeyInvites(ctx context.Context, db *gorm.DB) error {
	after := ""
	for {
		var rows []struct {
			ID    string
			Email string
		}
		if err := db.WithContext(ctx).Raw("SELECT id, email FROM invite_links WHERE email IS NOT NULL AND id > ? ORDER BY id LIMIT ?", after, rekeyBatch).
			Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			if k := email.Key(r.Email); k != r.Email {
				if err := db.WithContext(ctx).Exec("UPDATE invite_links SET email = ? WHERE id = ?", k, r.ID).Error; err != nil {
					return err
				}
			}
		}
		if len(rows) < rekeyBatch {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// rekeyEvents walks audit_events in primary-key order. The events are
// immutable; only the derived key columns that the email filters compare
// are rewritten.
func rekeyEvents(ctx context.Context, db *gorm.DB) error {
	var ws string
	var at int64 = -1
	var id string
	for {
		rows, err := db.WithContext(ctx).Raw(`SELECT workspace_id, occurred_at, id, actor_email, actor_email_key, target_label, target_label_key
			FROM audit_events WHERE workspace_id > ? OR (workspace_id = ? AND (occurred_at > ? OR (occurred_at = ? AND id > ?)))
			ORDER BY workspace_id, occurred_at, id LIMIT ?`, ws, ws, at, at, id, rekeyBatch).Rows()
		if err != nil {
			return err
		}
		type change struct {
			ws, id              string
			at                  int64
			actorKey, targetKey any
		}
		var changes []change
		n := 0
		for rows.Next() {
			var actor, actorKey, label, labelKey sql.NullString
			if err := rows.Scan(&ws, &at, &id, &actor, &actorKey, &label, &labelKey); err != nil {
				rows.Close()
				return err
			}
			n++
			wantActor, wantTarget := keyOf(actor), keyOf(label)
			if !sameKey(wantActor, actorKey) || !sameKey(wantTarget, labelKey) {
				changes = append(changes, change{ws: ws, id: id, at: at, actorKey: wantActor, targetKey: wantTarget})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range changes {
			if err := db.WithContext(ctx).Exec("UPDATE audit_events SET actor_email_key = ?, target_label_key = ? WHERE workspace_id = ? AND occurred_at = ? AND id = ?",
				c.actorKey, c.targetKey, c.ws, c.at, c.id).Error; err != nil {
				return err
			}
		}
		if n < rekeyBatch {
			return nil
		}
	}
}

func keyOf(v sql.NullString) any {
	if !v.Valid {
		return nil
	}
	return email.Key(v.String)
}

func sameKey(want any, have sql.NullString) bool {
	if want == nil {
		return !have.Valid
	}
	return have.Valid && have.String == want.(string)
}
