package dev.strata.engine.format.qcow;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatRegistry;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.storage.FileStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** qcow version 1, made by real qemu-img: recognised (never probed as raw) and honestly refused. */
class QcowFormatTest {
    @TempDir
    Path dir;

    private void qemuImg(String... args) throws IOException, InterruptedException {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "qemu-img";
        System.arraycopy(args, 0, cmd, 1, args.length);
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
    }

    @Test
    void qcowVersionOneProbesAsQcowAndIsRefused() throws Exception {
        qemuImg("create", "-q", "-f", "qcow", "x.qcow", "1M");
        qemuImg("create", "-q", "-f", "qcow2", "x.qcow2", "1M");
        String qcow = dir.resolve("x.qcow").toString();
        try (FileStorage f = FileStorage.open(qcow, true)) {
            assertEquals("qcow", FormatRegistry.standard().probe(f).name());
        }
        try (FileStorage f = FileStorage.open(dir.resolve("x.qcow2").toString(), true)) {
            assertEquals("qcow2", FormatRegistry.standard().probe(f).name());
        }
        for (String format : new String[] {null, "qcow"}) {
            StrataException e = assertThrows(StrataException.class,
                    () -> ChainOpener.standard().open(qcow, format, OpenOptions.readOnlyChain()).close());
            assertEquals(ErrorKind.ENOTSUP, e.kind());
            assertEquals("Could not open '" + qcow + "': Driver 'qcow' is not supported by strata-img yet",
                    ChainOpener.describeOpenFailure(qcow, e));
        }
        assertFalse(FormatRegistry.standard().names().contains("qcow"), "not listed as a supported format");
    }
}
