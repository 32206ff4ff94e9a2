"""A TCP relay on loopback that delays every byte by DELAY ms in each
direction (20 ms round trip with the default 10), keeping order.
    relay.py LISTEN_PORT TARGET_PORT [DELAY_MS]
Prints "ready" when listening."""

import asyncio
import sys


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def forward():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    task = asyncio.create_task(forward())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, data or None))
            if not data:
                break
    except ConnectionError:
        queue.put_nowait((loop.time(), None))
    await task


async def main(listen, target, delay):
    async def handle(r1, w1):
        r2, w2 = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(r1, w2, delay), pipe(r2, w1, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    delay = (float(sys.argv[3]) if len(sys.argv) > 3 else 10.0) / 1000.0
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), delay))
