// A kubelet-shaped grpc-go client for interop tests of agent/plugins/h2grpc.py.
//
// It dials a device-plugin unix socket the way the kubelet's device manager does
// (pkg/kubelet/cm/devicemanager/plugin/v1beta1/client.go: insecure credentials, authority
// "localhost", a unix context dialer, WithBlock) and runs calls given on the command line, with
// messages as hex-encoded protobuf bytes (a pass-through codec, so no generated Go code is needed):
//
//	grpc_go_client SOCKET unary METHOD REQUEST_HEX          -> prints "ok RESPONSE_HEX" or "error CODE MESSAGE"
//	grpc_go_client SOCKET stream METHOD REQUEST_HEX COUNT   -> prints "msg HEX" per message (COUNT of them), then "done"
//
// REQUEST_HEX "-" reads the hex from standard input (for requests beyond the argument size limit).
// Every call has a 10 s deadline. Built by the test with GO111MODULE=off against Debian's
// golang-google-grpc-dev (GOPATH=/usr/share/gocode).
package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// rawCodec passes protobuf bytes through unchanged; registered under the name "proto" so the
// content-type stays application/grpc as with generated stubs.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error)      { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error { *(v.(*[]byte)) = append([]byte(nil), data...); return nil }
func (rawCodec) Name() string                               { return "proto" }

func main() {
	encoding.RegisterCodec(rawCodec{})
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: grpc_go_client SOCKET unary|stream METHOD REQUEST_HEX [COUNT]")
		os.Exit(2)
	}
	socket, kind, method := os.Args[1], os.Args[2], os.Args[3]
	requestHex := os.Args[4]
	if requestHex == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cannot read stdin:", err)
			os.Exit(2)
		}
		requestHex = strings.TrimSpace(string(data))
	}
	request, err := hex.DecodeString(requestHex)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad REQUEST_HEX:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, socket, grpc.WithInsecure(), grpc.WithAuthority("localhost"), grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
	if err != nil {
		fmt.Println("error dial", err)
		os.Exit(1)
	}
	defer conn.Close()
	switch kind {
	case "unary":
		var response []byte
		if err := conn.Invoke(ctx, method, &request, &response); err != nil {
			s, _ := status.FromError(err)
			fmt.Printf("error %d %s\n", s.Code(), s.Message())
			return
		}
		fmt.Println("ok", hex.EncodeToString(response))
	case "stream":
		count, _ := strconv.Atoi(os.Args[5])
		stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
		if err == nil {
			err = stream.SendMsg(&request)
		}
		if err == nil {
			err = stream.CloseSend()
		}
		for i := 0; err == nil && i < count; i++ {
			var message []byte
			if err = stream.RecvMsg(&message); err == nil {
				fmt.Println("msg", hex.EncodeToString(message))
			}
		}
		if err != nil {
			s, _ := status.FromError(err)
			fmt.Printf("error %d %s\n", s.Code(), s.Message())
			return
		}
		fmt.Println("done")
	}
}
