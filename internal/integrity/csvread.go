package integrity

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// csvReader reads RFC 4180 records exactly as the export encoder writes
// them, byte for byte. encoding/csv is not used because it is lenient in
// ways a verifier must not be: it turns CRLF inside a quoted cell into LF
// (which would change the bytes that were hashed) and accepts bare quotes.
//
// Records end with CRLF (LF is accepted too); a cell holding a comma, quote,
// CR or LF is quoted, with quotes doubled; the last record must end with a
// line break, so that a file cut short is noticed rather than read as a
// shorter last cell.
type csvReader struct {
	r      *bufio.Reader
	long   []byte // a line longer than r's buffer, assembled
	buf    []byte
	ends   []int
	fields [][]byte
	record int // records read, the header included
}

func newCSVReader(r *bufio.Reader) *csvReader { return &csvReader{r: r} }

// errCSVEnd is the clean end of the file, between records.
var errCSVEnd = io.EOF

// line returns the next line with its LF, or what is left at the end of the
// file (err io.EOF). It is valid until the next call.
func (c *csvReader) line() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return l, err
	}
	c.long = append(c.long[:0], l...)
	for err == bufio.ErrBufferFull {
		l, err = c.r.ReadSlice('\n')
		c.long = append(c.long, l...)
	}
	return c.long, err
}

// read returns the next record's cells, valid until the next call. It works
// a line at a time: a record is one line unless a quoted cell holds a line
// break.
func (c *csvReader) read() ([][]byte, error) {
	c.buf, c.ends = c.buf[:0], c.ends[:0]
	line, err := c.line()
	if err == io.EOF && len(line) == 0 {
		return nil, errCSVEnd
	}
	c.record++
	if err != nil && err != io.EOF {
		return nil, err
	}
	if err == io.EOF {
		return nil, c.fail("the file ends in the middle of a row (was it cut short?)")
	}
	for pos := 0; ; {
		if pos < len(line) && line[pos] == '"' {
			// Quoted: up to the quote that is not doubled, across lines.
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					c.buf = append(c.buf, line[pos:]...)
					if line, err = c.line(); err != nil && (err != io.EOF || len(line) == 0) {
						if err == io.EOF {
							return nil, c.fail("the file ends inside a quoted cell (was it cut short?)")
						}
						return nil, err
					}
					pos = 0
					continue
				}
				c.buf = append(c.buf, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					c.buf = append(c.buf, '"')
					pos++
					continue
				}
				break
			}
			c.ends = append(c.ends, len(c.buf))
			switch rest := line[pos:]; {
			case len(rest) > 0 && rest[0] == ',':
				pos++
				continue
			case string(rest) == "\r\n" || string(rest) == "\n":
				return c.cells(), nil
			case len(rest) == 0 || string(rest) == "\r":
				return nil, c.fail("the file ends in the middle of a row (was it cut short?)")
			default:
				return nil, c.fail("text after the closing quote of a cell")
			}
		}
		// Unquoted: up to the next comma or the end of the line.
		rest, last := line[pos:], false
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			i, last = len(rest), true
			switch {
			case bytes.HasSuffix(rest, []byte("\r\n")):
				i -= 2
			case bytes.HasSuffix(rest, []byte("\n")):
				i--
			default:
				return nil, c.fail("the file ends in the middle of a row (was it cut short?)")
			}
		}
		cell := rest[:i]
		if bytes.IndexByte(cell, '"') >= 0 {
			return nil, c.fail("a quote inside an unquoted cell")
		}
		if bytes.IndexByte(cell, '\r') >= 0 {
			return nil, c.fail("a carriage return outside quotes that does not end the row")
		}
		c.buf = append(c.buf, cell...)
		c.ends = append(c.ends, len(c.buf))
		if last {
			return c.cells(), nil
		}
		pos += i + 1
	}
}

func (c *csvReader) cells() [][]byte {
	c.fields = c.fields[:0]
	start := 0
	for _, e := range c.ends {
		c.fields = append(c.fields, c.buf[start:e:e])
		start = e
	}
	return c.fields
}

func (c *csvReader) fail(msg string) error {
	return &FormatError{Row: c.record - 1, Msg: msg}
}

// FormatError is an export file that is not what the encoder writes, so that
// it cannot be verified at all (as opposed to a row that fails its hash).
type FormatError struct {
	// Row is the data row (1 is the newest), 0 for the header or the file
	// as a whole.
	Row int
	Msg string
}

func (e *FormatError) Error() string {
	if e.Row <= 0 {
		return "not an export file: " + e.Msg
	}
	return fmt.Sprintf("row %d: %s", e.Row, e.Msg)
}
