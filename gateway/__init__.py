"""meshbulb gateway and host node: the asyncio driver around the protocol core, its links
(UDP, serial, the emulator's loopback medium), reliable streams over the mesh, the exit
service with its owner policy, and the SOCKS5/HTTP CONNECT proxies of a host node."""
