package cards

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

var feedbackAt = revokedAt.Add(22*time.Minute + 40*time.Second) // 16:31:00Z

func answeredRequest() *access.Request {
	r := expiredRequest()
	r.Feedback = &access.Feedback{
		Useful: access.UsefulPartly, FastEnough: false, At: feedbackAt,
		Comment: "Approval took long. [click](https://evil.example) {{DATE(2026-01-01T00:00:00Z)}}\nThe group lacked one role.",
	}
	return r
}

func feedbackGoldens() map[string]Card {
	return map[string]Card{
		"feedback":          Feedback(expiredRequest()),
		"feedback_recorded": FeedbackRecorded(answeredRequest()),
	}
}

func TestFeedbackCardAsksTheQuestions(t *testing.T) {
	m := decode(t, Feedback(expiredRequest()))
	inputs := map[string]map[string]any{}
	walk(m, "$", "", func(_ string, obj map[string]any) {
		if id, ok := obj["id"].(string); ok {
			inputs[id] = obj
		}
	})
	choices := func(id string) []string {
		var out []string
		cs, _ := inputs[id]["choices"].([]any)
		for _, c := range cs {
			out = append(out, c.(map[string]any)["value"].(string))
		}
		return out
	}
	if got := choices(InputUseful); !equalStrs(got, []string{"yes", "partly", "no"}) || inputs[InputUseful]["isRequired"] != true ||
		inputs[InputUseful]["label"] != "Did this access let you do what you needed?" {
		t.Errorf("useful input %v", inputs[InputUseful])
	}
	if got := choices(InputFastEnough); !equalStrs(got, []string{"yes", "no"}) || inputs[InputFastEnough]["isRequired"] != true ||
		inputs[InputFastEnough]["label"] != "Was approval fast enough?" {
		t.Errorf("fast-enough input %v", inputs[InputFastEnough])
	}
	if c := inputs[InputComment]; c == nil || c["maxLength"] != float64(access.MaxFeedbackComment) || c["isRequired"] == true {
		t.Errorf("comment input %v: want optional, maxLength %d", c, access.MaxFeedbackComment)
	}
	bs := buttons(m)
	if len(bs) != 1 || bs[0]["type"] != "Action.Execute" || bs[0]["verb"] != VerbFeedback ||
		bs[0]["data"].(map[string]any)[DataRequestID] != "req-0001" {
		t.Fatalf("buttons %v: want one Action.Execute %s with the request id", bs, VerbFeedback)
	}
}

func TestFeedbackRecordedShowsTheAnswerInert(t *testing.T) {
	m := decode(t, FeedbackRecorded(answeredRequest()))
	if bs := buttons(m); len(bs) != 0 {
		t.Fatalf("the recorded feedback has buttons: %v", bs)
	}
	var comment string
	walk(m, "$", "", func(_ string, obj map[string]any) {
		if obj["type"] == "TextRun" {
			comment = obj["text"].(string)
		}
	})
	want := "Approval took long. [click]" + wordJoiner + "(https://evil.example) {" + wordJoiner + "{DATE(2026-01-01T00:00:00Z)}}\nThe group lacked one role."
	if comment != want {
		t.Fatalf("comment shown as %q, want %q", comment, want)
	}
}

func equalStrs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
