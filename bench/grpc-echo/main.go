// A gRPC echo server for the bench (bench/rpc-bench.ts): grpc-go on h2c, answering every unary call
// of any method with the request's own bytes. kannon.target.v1.TargetService/Echo's EchoRequest
// {text = 1} and EchoResponse {text = 1} share field 1, so an echo of the request is a valid
// response. No generated code: a codec that passes the message bytes through.
//
// Usage: grpc-echo PORT  (listens on 127.0.0.1:PORT; prints "listening PORT" once ready)
package main

import (
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// rawCodec hands the message bytes through unchanged.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

func echo(_ any, stream grpc.ServerStream) error {
	var msg []byte
	if err := stream.RecvMsg(&msg); err != nil {
		return err
	}
	return stream.SendMsg(&msg)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: grpc-echo PORT")
		os.Exit(2)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	encoding.RegisterCodec(rawCodec{})
	server := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(echo))
	fmt.Printf("listening %d\n", lis.Addr().(*net.TCPAddr).Port)
	if err := server.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
