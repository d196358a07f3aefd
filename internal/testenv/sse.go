// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"bufio"
	"bytes"
	"strings"
)

// LastEventData returns the JSON-RPC message of a Streamable HTTP answer:
// for a text/event-stream body (per contentType) the last "data: " line,
// nil when there is none; any other body as it is. Lines up to 16 MiB are
// read.
func LastEventData(contentType string, body []byte) []byte {
	if !strings.HasPrefix(contentType, "text/event-stream") {
		return body
	}
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			last = []byte(d)
		}
	}
	return last
}
