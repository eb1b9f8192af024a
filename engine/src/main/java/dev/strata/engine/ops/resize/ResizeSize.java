package dev.strata.engine.ops.resize;

import dev.strata.engine.StrataException;
import dev.strata.engine.ops.create.QemuSizeText;

/**
 * The size argument of {@code qemu-img resize}: an absolute size, or a size to add ("+N") or to
 * take off ("-N"). The number is read as qemu's QemuOpts size option "size" (qemu_strtosz with
 * parse_option_size's messages), so "+16E" is out of range and "9E" parses (and later fails as
 * not positive, the int64 view of it being negative).
 *
 * @param sign   +1 to grow by {@code amount}, -1 to shrink by it, 0 for an absolute size
 * @param amount the number as an unsigned 64-bit value
 */
public record ResizeSize(int sign, long amount) {

    /**
     * Parses the argument as img_resize does.
     *
     * @throws StrataException EINVAL with qemu's message for the size option
     */
    public static ResizeSize parse(String argument) {
        int sign = 0;
        String number = argument;
        if (argument.startsWith("+")) {
            sign = 1;
            number = argument.substring(1);
        } else if (argument.startsWith("-")) {
            sign = -1;
            number = argument.substring(1);
        }
        try {
            return new ResizeSize(sign, QemuSizeText.parse(number));
        } catch (QemuSizeText.NotASize e) {
            if (e.failure() == QemuSizeText.Failure.RANGE) {
                throw StrataException.invalid("Value '" + number + "' is out of range for parameter 'size'");
            }
            throw StrataException.invalid("Parameter 'size' expects a non-negative number below 2^64\n"
                    + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                    + "and exabytes, respectively.");
        }
    }

    /** The new size for an image of {@code currentSize} bytes, with int64 wrap-around as in qemu. */
    public long applyTo(long currentSize) {
        return sign == 0 ? amount : currentSize + amount * sign;
    }
}
