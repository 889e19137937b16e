package insight

import (
	"net/netip"
	"strconv"
)

// Details are what the reasons for an event's flags mention. The server
// fills them from the stored event (DetailsOfEvent); the write path can
// fill them from its Context (DetailsOf), which knows the burst's count too.
type Details struct {
	// Action is the event's action; EXTERNAL_DOMAIN's reason says
	// "invited", "added" or "accepted" by it.
	Action string
	// Domain is the person's email domain in canonical form, "" if unknown.
	Domain string
	// BurstCount is which of the actor's user-management events within
	// ten minutes this is (10, 11, …); 0 if unknown.
	BurstCount int
	// Network is the network the actor acted from, the zero Prefix if
	// unknown.
	Network netip.Prefix
}

// DetailsOf are the details of the event c describes, at write time.
func DetailsOf(c Context) Details {
	d := Details{Action: c.Action, BurstCount: c.RecentActorEvents + 1}
	if dom, err := EmailDomain(c.PersonEmail); err == nil {
		d.Domain = dom
	}
	if n, ok := ParseNetwork(c.Address); ok {
		d.Network = n
	}
	return d
}

// DetailsOfEvent are the details of a stored event, from the fields it
// records. The burst's count is not stored, so BURST's reason then says
// "10th or later".
func DetailsOfEvent(action, targetLabel, actorEmail, ipAddress string) Details {
	d := DetailsOf(Context{Action: action, PersonEmail: PersonEmail(action, targetLabel, actorEmail), Address: ipAddress})
	d.BurstCount = 0
	return d
}

// Reasons are the plain-English reasons for the flags in s, in the flags'
// order, as the Audit Log page shows them beside a flagged row. The server
// and the documentation use these; the page's script carries the same
// sentences.
func Reasons(s Set, d Details) []string {
	out := []string{}
	for _, f := range s.Flags() {
		out = append(out, Reason(f, d))
	}
	return out
}

// Reason is the plain-English reason for one flag:
//
//	EXTERNAL_DOMAIN  added someone from gmail.com, outside your trusted domains
//	ADMIN_GRANTED    gave the ADMIN role
//	BURST            10th change by this person within 10 minutes
//	NEW_LOCATION     acted from a new network (203.0.113.0/24)
//
// An internationalised domain shows both forms (DisplayDomain).
func Reason(f Flag, d Details) string {
	switch f {
	case ExternalDomain:
		from := "someone from outside your trusted domains"
		if d.Domain != "" {
			from = "someone from " + DisplayDomain(d.Domain) + ", outside your trusted domains"
		}
		switch d.Action {
		case actionEmailInviteCreated:
			return "invited " + from
		case actionEmailInviteAccepted, actionPublicInviteLinkAccepted:
			if d.Domain != "" {
				return "someone from " + DisplayDomain(d.Domain) + " accepted an invite, outside your trusted domains"
			}
			return "someone from outside your trusted domains accepted an invite"
		default:
			return "added " + from
		}
	case AdminGranted:
		return "gave the ADMIN role"
	case Burst:
		if d.BurstCount >= BurstThreshold {
			return ordinal(d.BurstCount) + " change by this person within 10 minutes"
		}
		return ordinal(BurstThreshold) + " or later change by this person within 10 minutes"
	case NewLocation:
		if d.Network.IsValid() {
			return "acted from a new network (" + d.Network.String() + ")"
		}
		return "acted from a new network"
	}
	return string(f)
}

// ordinal is n in English: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, ….
func ordinal(n int) string {
	suffix := "th"
	switch n % 100 {
	case 11, 12, 13:
	default:
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix
}
