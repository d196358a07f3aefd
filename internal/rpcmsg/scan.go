// SPDX-License-Identifier: Apache-2.0

package rpcmsg

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// scanObject calls member for each member of the JSON object data, in
// order, with its decoded name and its raw value (whitespace trimmed). data
// must be valid JSON (checked with json.Valid first); scanObject fails if it
// is not an object. Member names are compared byte for byte by the caller:
// unlike encoding/json, nothing here folds case.
func scanObject(data []byte, member func(key string, value json.RawMessage) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		what := "nothing"
		if i < len(data) {
			what = kind(data[i])
		}
		return fmt.Errorf("a JSON-RPC message must be a JSON object, got %s", what)
	}
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return nil
	}
	for {
		// data is valid JSON, so a key string starts here.
		end := skipString(data, i)
		rawKey := data[i:end]
		key := ""
		if bytes.IndexByte(rawKey, '\\') < 0 {
			key = string(rawKey[1 : len(rawKey)-1])
		} else if err := json.Unmarshal(rawKey, &key); err != nil {
			return fmt.Errorf("decoding member name %s: %w", rawKey, err)
		}
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // the ':'
		vend := skipValue(data, i)
		if err := member(key, json.RawMessage(data[i:vend])); err != nil {
			return err
		}
		i = skipSpace(data, vend)
		if data[i] == '}' {
			return nil
		}
		i = skipSpace(data, i+1) // the ','
	}
}

func kind(c byte) string {
	switch c {
	case '[':
		return "an array (JSON-RPC batches are not supported)"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string starting at data[i] ('"').
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// skipValue returns the index after the valid JSON value starting at data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = skipString(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// maxDepth is the deepest nesting of objects and arrays accepted, as in the
// SDK's decoder: no real message comes near it, and a peer using the SDK
// would refuse a deeper one anyway.
const maxDepth = 1000

// tooDeep reports whether valid JSON data nests deeper than maxDepth.
func tooDeep(data []byte) bool {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			i = skipString(data, i) - 1
		case '{', '[':
			if depth++; depth > maxDepth {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}
