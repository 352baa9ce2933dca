package cards

import "github.com/jitbot/jitbot/access"

// VerbForceApprove is an admin's Force approve on the approval card, with
// the reason (InputReason, required).
const VerbForceApprove = "forceApprove"

// addForceApprove puts Force approve on the card of an admin who may
// force-approve the request: it sends the reason, which it requires. An
// admin who also decides shares the reason input of Approve and Deny;
// anyone else gets it here.
func addForceApprove(c *Card, req *access.Request, v access.Viewer) {
	if !v.May.Has(access.CanForceApprove) {
		return
	}
	if !v.May.Has(access.CanApprove) && !v.May.Has(access.CanDeny) {
		c.Body = append(c.Body, inputText{
			Type:         "Input.Text",
			ID:           InputReason,
			Label:        "Reason to force-approve (admins; shown to the requester and audited)",
			Placeholder:  "Why this access must be given now",
			MaxLength:    maxReason,
			IsRequired:   true,
			ErrorMessage: "Say why you force-approve this request.",
			Spacing:      "Medium",
		})
	}
	force := requestAction("Force approve", VerbForceApprove, req.ID)
	force.AssociatedInputs = "auto"
	c.Actions = append(c.Actions, force)
}
